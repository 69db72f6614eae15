#!/bin/bash
# gen_seeds.sh RR_WALK CORPUS_DIR — regenerates the restic fuzz seed corpus:
# builds a small version 2 repository (plus a version 1 one) with the real
# restic, then has rr_walk save decrypted plaintexts from it (key files,
# index, snapshot and tree JSON, pack headers, sealed boxes with their key).
set -eu
walk=$(realpath "$1")
out=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export RESTIC_PASSWORD=seed-pw RESTIC_CACHE_DIR=$T/cache
printf '%s\n' "$RESTIC_PASSWORD" > "$T/pw"
mkdir -p "$T/src"
cd "$T/src"
mkdir -p d/e
printf 'a\n' > 'we"ird\name'
printf 'b\n' > $'bad\xffbyte'
printf 'c\n' > $'soft\xc2\xadhy'
ln -s target d/link
mkfifo d/fifo
printf 'd\n' > d/e/file
ln d/e/file d/e/hard
setfattr -n user.seed -v 1 d/e/file 2>/dev/null || true
touch -d 1960-01-01 d/e/file
cd "$T"
for v in 2 1; do
	restic -q init -r "$T/r$v" --repository-version $v >/dev/null
	restic -q -r "$T/r$v" backup --tag seed src >/dev/null
	mkdir -p "$T/out$v"
	"$walk" --dump-seeds "$T/out$v" "$T/r$v" "$T/pw"
done
for k in keyfile index snapshot tree packheader box; do
	mkdir -p "$out/$k"
	rm -f "$out/$k"/seed-*
	for v in 2 1; do
		for f in "$T/out$v/$k"/seed-*; do
			[ -e "$f" ] && cp "$f" "$out/$k/v$v-$(basename "$f")"
		done
	done
done
