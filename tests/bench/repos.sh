#!/usr/bin/env bash
# repos.sh — what /repos costs over the restic commands it runs.
#
#   add     N users through /repos/ctl, one after the other, beside the floor:
#           the same `restic init` + `restic key add` run bare;
#   prune   N small repositories (two snapshots each, keep-last=1) pruned one
#           after the other as the nightly pass does, through
#           /repos/USER/ctl, beside the floor: `restic forget --prune` run
#           bare on identical copies.
#
# Prints per-operation medians, totals and the ratio cloudfs / floor.
# Usage: tests/bench/repos.sh [N]      (N defaults to 20; CLOUDFS=binary)
# Needs restic and FUSE; runs in a temp dir it removes.
set -euo pipefail

N=${1:-20}
ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
CLOUDFS=${CLOUDFS:-$ROOT_DIR/build/fs/cloudfs}
RESTIC=$(command -v restic) || { echo "restic not found" >&2; exit 1; }
[[ -x $CLOUDFS ]] || { echo "no cloudfs binary at $CLOUDFS (build it or set CLOUDFS)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/cloudfs-bench.XXXXXX")
MNT=$T/mnt STATE=$T/state REPOS=$T/repos FLOOR=$T/floor
mkdir -p "$MNT" "$STATE" "$FLOOR" "$T/data"
pid=
cleanup() {
	if mountpoint -q "$MNT"; then fusermount3 -u "$MNT" || true; fi
	if [[ -n $pid ]]; then wait "$pid" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
# stats NAME FILE — median and total of the seconds in FILE
stats() {
	python3 - "$1" "$2" <<'EOF'
import statistics, sys
v = [float(x) for x in open(sys.argv[2]) if x.strip()]
print(f"{sys.argv[1]:<34} n={len(v):<3} median {statistics.median(v):7.3f}s   total {sum(v):8.2f}s")
EOF
}
ratio() {
	python3 - "$@" <<'EOF'
import sys
a = sum(float(x) for x in open(sys.argv[2]) if x.strip())
b = sum(float(x) for x in open(sys.argv[3]) if x.strip())
print(f"{sys.argv[1]:<34} cloudfs/floor = {a / b:.3f}  ({(a / b - 1) * 100:+.1f}%)")
EOF
}

# the prune schedule is kept away from the run; no [repos] owner: no chown
at=$(date -u -d '+12 hours' +%H:%M)
"$CLOUDFS" "$MNT" -f -o "state=$STATE,repos.root=$REPOS,repos.prune_at=$at,repos.quota_scan=1h" \
	>"$T/cloudfs.log" 2>&1 &
pid=$!
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.05; done
mountpoint -q "$MNT" || { cat "$T/cloudfs.log" >&2; exit 1; }

users=()
for i in $(seq -w 1 "$N"); do users+=("u$i"); done

echo "== add: $N users (each beside the bare commands, alternating)"
OPW=$STATE/operator.password
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/user.pw"
: >"$T/add.cfs"
: >"$T/add.floor"
for u in "${users[@]}"; do
	t0=$(now)
	echo "add $u" >"$MNT/repos/ctl"
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$T/add.cfs"
	# the floor: what add runs, bare
	t0=$(now)
	RESTIC_PASSWORD_FILE=$OPW "$RESTIC" -r "$FLOOR/init-$u" --no-cache init >/dev/null
	RESTIC_PASSWORD_FILE=$OPW "$RESTIC" -r "$FLOOR/init-$u" --no-cache key add \
		--user "$u" --host cloudfs --new-password-file "$T/user.pw" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$T/add.floor"
	rm -rf "$FLOOR/init-$u"
done

echo "== prune: $N repositories, 2 snapshots each, keep-last=1"
for u in "${users[@]}"; do
	for k in 1 2; do
		echo "$u $k" >"$T/data/f"
		RESTIC_PASSWORD_FILE=$OPW "$RESTIC" -r "$REPOS/$u" --no-cache backup -q "$T/data"
	done
	printf 'keep-last=1\n' >"$MNT/repos/$u/retention"
	cp -a "$REPOS/$u" "$FLOOR/$u"
done

: >"$T/prune.cfs"
: >"$T/prune.floor"
for u in "${users[@]}"; do
	t0=$(now)
	echo prune >"$MNT/repos/$u/ctl"
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$T/prune.cfs"
	t0=$(now)
	RESTIC_PASSWORD_FILE=$OPW "$RESTIC" -r "$FLOOR/$u" --no-cache forget --prune \
		--keep-last 1 >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$T/prune.floor"
done

echo
stats "add through /repos/ctl" "$T/add.cfs"
stats "add floor (init + key add)" "$T/add.floor"
ratio "add" "$T/add.cfs" "$T/add.floor"
stats "prune through /repos/USER/ctl" "$T/prune.cfs"
stats "prune floor (forget --prune)" "$T/prune.floor"
ratio "prune" "$T/prune.cfs" "$T/prune.floor"
