#!/usr/bin/env bash
# Snapshot trees, by hand as root (never in CI): cloudfs against `restic mount`
# on the same repository in the same run, plus the floor (the same tree
# restored to local disk).  Measures cold time to the first `ls` of a
# snapshot, `find | wc -l`, `stat` of every file, read-all throughput and the
# mount's peak RSS.  FILES small files and BIG_MB of large files (defaults
# 20000 and 200) make the tree.
#
# "Cold first ls" runs with the page cache dropped and a fresh state dir
# (no persisted index), from starting the mount command to the end of
# `ls snapshots/latest/`: for cloudfs that is the mount, the key derivation
# (scrypt, with the key file's parameters), the config, the snapshot list, the
# index files and the root tree; for `restic mount` the same up to the moment
# its latest/ lists.  Each walk starts with caches dropped, so the kernel
# asks the mount again for every name.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build-bench}
FILES=${FILES:-20000}
BIG_MB=${BIG_MB:-200}

if [ ! -x "$build/fs/cloudfs" ]; then
	meson setup "$build" "$here" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$build" fs/cloudfs >/dev/null
CLOUDFS=$build/fs/cloudfs

T=$(mktemp -d /tmp/cfs-bench-snap.XXXXXX)
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
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# restic 0.14 mounts through `fusermount`: point it at fusermount3
mkdir -p "$T/bin"
command -v fusermount >/dev/null || ln -s "$(command -v fusermount3)" "$T/bin/fusermount"
export PATH=$T/bin:$PATH

echo "making the tree: $FILES small files, $BIG_MB MB of large files"
src=$T/src
mkdir -p "$src"
for ((i = 0; i < FILES; i++)); do
	d=$src/d$((i % 100))/e$((i % 7))
	[ -d "$d" ] || mkdir -p "$d"
	printf 'file %d %s\n' "$i" "$RANDOM$RANDOM" >"$d/f$i.txt"
done
for ((i = 0; i < BIG_MB / 50; i++)); do
	head -c $((50 * 1024 * 1024)) /dev/urandom >"$src/big$i"
done
echo pw >"$T/pw"
export RESTIC_PASSWORD_FILE=$T/pw
restic -q init -r "$T/repo"
restic -q -r "$T/repo" backup "$src"
snap=$(restic -r "$T/repo" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["short_id"])')

# the floor: the tree restored to local disk
restic -q -r "$T/repo" restore latest --target "$T/restored"
floor=$T/restored$src

measure() {   # measure NAME DIR PID
	local name=$1 dir=$2 pid=$3 t0 t1
	drop
	t0=$(now); find "$dir" | wc -l >/dev/null; t1=$(now); local tfind; tfind=$(dt "$t0" "$t1")
	drop
	t0=$(now); find "$dir" -type f -exec stat -c %s {} + >/dev/null; t1=$(now)
	local tstat; tstat=$(dt "$t0" "$t1")
	drop
	t0=$(now); tar -C "$dir" -cf - . | wc -c >/dev/null; t1=$(now)
	local tread; tread=$(dt "$t0" "$t1")
	local mb; mb=$(du -sm --apparent-size "$floor" | cut -f1)
	local rss=-
	[ "$pid" = - ] || rss=$(hwm "$pid")
	printf '%-14s find %6.2f s  stat-all %6.2f s  read-all %6.2f s (%6.1f MB/s)  peak RSS %s kB\n' \
		"$name" "$tfind" "$tstat" "$tread" "$(echo "$mb / $tread" | bc -l)" "$rss"
	eval "${name//-/_}_find=$tfind ${name//-/_}_stat=$tstat ${name//-/_}_read=$tread ${name//-/_}_rss=$rss"
}

# cloudfs
mkdir -p "$T/cfs" "$T/state"
printf '[repos.bench]\npath = %s\npassword_file = %s\n' "$T/repo" "$T/pw" >"$T/state/cloudfs.conf"
drop
t0=$(now)
"$CLOUDFS" "$T/cfs" -o "state=$T/state"
ls "$T/cfs/repos/bench/snapshots/latest/" >/dev/null
t1=$(now)
cfs_first=$(dt "$t0" "$t1")
cpid=$(pgrep -f "cloudfs $T/cfs" | head -1)
measure cloudfs "$T/cfs/repos/bench/snapshots/latest$src" "$cpid"

# restic mount
mkdir -p "$T/rmnt"
drop
t0=$(now)
restic -r "$T/repo" mount --no-lock "$T/rmnt" >/dev/null 2>&1 &
rpid=$!
until ls "$T/rmnt/snapshots/latest/" >/dev/null 2>&1; do sleep 0.05; done
t1=$(now)
r_first=$(dt "$t0" "$t1")
measure restic-mount "$T/rmnt/snapshots/latest$src" "$rpid"

measure local-floor "$floor" -

printf '\ncold first ls: cloudfs %.2f s, restic mount %.2f s → %.1fx faster\n' "$cfs_first" "$r_first" \
	"$(echo "$r_first / $cfs_first" | bc -l)"
printf 'find:     %.1fx faster than restic mount (%.1fx the floor)\n' \
	"$(echo "$restic_mount_find / $cloudfs_find" | bc -l)" "$(echo "$cloudfs_find / $local_floor_find" | bc -l)"
printf 'stat-all: %.1fx faster than restic mount (%.1fx the floor)\n' \
	"$(echo "$restic_mount_stat / $cloudfs_stat" | bc -l)" "$(echo "$cloudfs_stat / $local_floor_stat" | bc -l)"
printf 'read-all: %.1fx faster than restic mount (%.1fx the floor)\n' \
	"$(echo "$restic_mount_read / $cloudfs_read" | bc -l)" "$(echo "$cloudfs_read / $local_floor_read" | bc -l)"
printf 'peak RSS: cloudfs %s kB, restic mount %s kB → %.2f of restic'"'"'s\n' "$cloudfs_rss" \
	"$restic_mount_rss" "$(echo "$cloudfs_rss / $restic_mount_rss" | bc -l)"
echo "(snapshot $snap)"
