#!/bin/sh
# Turns migrations/NNN_name.sql files into a C table (one string per file), so
# the schema lives in .sql files and ships inside the binary.
set -eu
out=$1; shift
{
	echo '/* generated from the .sql files in backend/state/migrations: do not edit */'
	echo '#include "state/migrations.h"'
	echo 'const struct cfs_migration cfs_migrations[] = {'
	for f in "$@"; do
		base=$(basename "$f" .sql)
		ver=$(echo "$base" | sed 's/_.*//' | sed 's/^0*//')
		printf '\t{ %s, "%s",\n' "$ver" "$base"
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t  "/' -e 's/$/\\n"/' "$f"
		printf '\t},\n'
	done
	echo '};'
	echo "const unsigned cfs_migrations_count = $#;"
} > "$out"
