#!/usr/bin/env bash
# Cold first `ls` of a snapshot on a large repository, by hand as root
# (never in CI): cloudfs against `restic mount` on the same repository in the
# same run.  FILES tiny files (default 1,000,000), each with its own content,
# make about as many blobs, so the index is what a large backup has.
#
# Every measure starts with the page cache dropped and runs from starting
# the mount command to the end of `ls snapshots/latest/`:
#   cloudfs, first mount   fresh state dir: key derivation, then the index
#                          built from every index file, then the tree
#   cloudfs, later mount   same state dir: the saved index is mapped
#   restic mount           restic loads every index file before it serves
#                          (twice: the second with its own cache warm)
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build-bench}
FILES=${FILES:-1000000}

if [ ! -x "$build/fs/cloudfs" ]; then
	meson setup "$build" "$here" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$build" fs/cloudfs >/dev/null
CLOUDFS=$build/fs/cloudfs

T=$(mktemp -d /tmp/cfs-bench-snaplarge.XXXXXX)
cleanup() {
	fusermount3 -u "$T/cfs" 2>/dev/null || true
	fusermount3 -u "$T/rmnt" 2>/dev/null || true
	kill "${rpid:-0}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
now() { date +%s.%N; }
dt() { echo "$2 - $1" | bc; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

mkdir -p "$T/bin"
command -v fusermount >/dev/null || ln -s "$(command -v fusermount3)" "$T/bin/fusermount"
export PATH=$T/bin:$PATH
export RESTIC_CACHE_DIR=$T/restic-cache

echo "making $FILES files"
python3 - "$T/src" "$FILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 1000))
    if i < 1000:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%07d" % i), "w") as f:
        f.write("file %d\n" % i)
EOF
echo pw >"$T/pw"
export RESTIC_PASSWORD_FILE=$T/pw
restic -q init -r "$T/repo"
echo "backing up"
restic -q -r "$T/repo" backup "$T/src"
rm -rf "$T/src"
echo "index files: $(ls "$T/repo/index" | wc -l), $(du -sh "$T/repo/index" | cut -f1)"

cfs_ls() {
	drop
	local t0 t1
	t0=$(now)
	"$CLOUDFS" "$T/cfs" -o "state=$T/state"
	ls "$T/cfs/repos/bench/snapshots/latest/" >/dev/null
	t1=$(now)
	dt "$t0" "$t1"
	fusermount3 -u "$T/cfs"
	sleep 1
}

restic_ls() {
	drop
	local t0 t1
	t0=$(now)
	restic -r "$T/repo" mount --no-lock "$T/rmnt" >/dev/null 2>&1 &
	rpid=$!
	until ls "$T/rmnt/snapshots/latest/" >/dev/null 2>&1; do sleep 0.05; done
	t1=$(now)
	dt "$t0" "$t1"
	fusermount3 -u "$T/rmnt"
	wait "$rpid" 2>/dev/null || true
	rpid=
}

mkdir -p "$T/cfs" "$T/rmnt" "$T/state"
printf '[repos.bench]\npath = %s\npassword_file = %s\n' "$T/repo" "$T/pw" >"$T/state/cloudfs.conf"
c1=$(cfs_ls)
c2=$(cfs_ls)
r1=$(restic_ls)
r2=$(restic_ls)
printf 'cold first ls, %d files:\n' "$FILES"
printf '  cloudfs, first mount  %6.2f s\n  cloudfs, later mount  %6.2f s\n' "$c1" "$c2"
printf '  restic mount          %6.2f s (again: %.2f s)\n' "$r1" "$r2"
printf '  ratios: first mount %.1fx, later mount %.1fx (against restic'"'"'s better run)\n' \
	"$(echo "if ($r1 < $r2) $r1 / $c1 else $r2 / $c1" | bc -l)" \
	"$(echo "if ($r1 < $r2) $r1 / $c2 else $r2 / $c2" | bc -l)"
