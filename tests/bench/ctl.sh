#!/usr/bin/env bash
# tests/bench/ctl.sh — how fast the mount answers the shell, beside tmpfs.
#
# Run by hand, as root, never in CI:
#
#   bash tests/bench/ctl.sh [-n ROUNDS] [-l LS_ROUNDS]
#
# It mounts a fresh cloudfs ($CLOUDFS, default build/fs/cloudfs; use a build
# without sanitizers for figures worth quoting) and measures the median of
#
#   echo add … > /shares/ctl       one new share per round (distinct notes)
#   cat /instances/NAME/status     a state file
#   ls -l /instances               a 1,000-entry directory (made via ctl)
#
# and the same operations on a tmpfs file and directory (the floor), then
# prints a table of medians and the ratio to the floor.  The echo is the
# shell's builtin, timed in-process; cat and ls include a fork and exec on
# both sides, as they do for an operator.
set -euo pipefail

ROUNDS=200
LS_ROUNDS=30
while getopts n:l:h opt; do
	case $opt in
	n) ROUNDS=$OPTARG ;;
	l) LS_ROUNDS=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done

if [[ $(id -u) -ne 0 ]]; then
	echo "run as root (the mount uses allow_other and a tmpfs is mounted)" >&2
	exit 1
fi

# skip() is a bats function the helpers may call
skip() { echo "skipped: $*" >&2; exit 0; }
# shellcheck source=../lib/common.bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.bash"
cfs_users_create

FLOOR=
cleanup() {
	cfs_teardown || true
	if [[ -n $FLOOR ]]; then
		umount "$FLOOR" 2>/dev/null || true
		rmdir "$FLOOR" 2>/dev/null || true
	fi
}
trap cleanup EXIT

if ldd "$CLOUDFS" 2>/dev/null | grep -q -e libasan -e libubsan; then
	echo "note: $CLOUDFS is built with sanitizers; expect slower figures" >&2
fi

# a quiet poller: the 1,000 instances point at a closed local port
cfs_mount -o poll.interval=24h
FLOOR=$(mktemp -d "${TMPDIR:-/tmp}/cloudfs-bench-floor.XXXXXX")
mount -t tmpfs -o size=64m tmpfs "$FLOOR"

# median of the numbers on stdin (microseconds), printed in milliseconds
median_ms() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f\n", m / 1000 }'
}

# time_echo FILE LINE-PREFIX ROUNDS — one `echo … > FILE` per round
time_echo() {
	local file=$1 prefix=$2 n=$3 i t0 t1
	for ((i = 0; i < n; i++)); do
		t0=${EPOCHREALTIME/./}
		echo "$prefix note=bench-$i-$RANDOM" >"$file"
		t1=${EPOCHREALTIME/./}
		echo $((10#$t1 - 10#$t0))
	done
}

# time_cmd ROUNDS CMD… — an external command per round, output discarded
time_cmd() {
	local n=$1 i t0 t1
	shift
	for ((i = 0; i < n; i++)); do
		t0=${EPOCHREALTIME/./}
		"$@" >/dev/null
		t1=${EPOCHREALTIME/./}
		echo $((10#$t1 - 10#$t0))
	done
}

echo "making 1,000 instances and the floor's 1,000 files…" >&2
batch=
for ((i = 0; i < 1000; i++)); do
	batch+="add bench$(printf %04d "$i") http://127.0.0.1:9 secret=$(printf '%064d' "$i")"$'\n'
	if (((i + 1) % 25 == 0)); then   # a write holds at most 4 KiB
		ctl_write "$MNT/instances/ctl" "$batch" || { tail -n1 "$MNT/instances/ctl" >&2; exit 1; }
		batch=
	fi
done
[[ $(ls "$MNT/instances" | wc -l) -ge 1001 ]] || { echo "could not make 1,000 instances" >&2; exit 1; }
mkdir "$FLOOR/dir"
for ((i = 0; i < 1000; i++)); do
	: >"$FLOOR/dir/bench$(printf %04d "$i")"
done
echo unknown >"$FLOOR/status"

echo "measuring ($ROUNDS rounds, $LS_ROUNDS for ls -l)…" >&2
e_cfs=$(time_echo "$MNT/shares/ctl" "add $BOB" "$ROUNDS" | median_ms)
e_tmp=$(time_echo "$FLOOR/ctl" "add $BOB" "$ROUNDS" | median_ms)
c_cfs=$(time_cmd "$ROUNDS" cat "$MNT/instances/bench0500/status" | median_ms)
c_tmp=$(time_cmd "$ROUNDS" cat "$FLOOR/status" | median_ms)
l_cfs=$(time_cmd "$LS_ROUNDS" ls -l "$MNT/instances" | median_ms)
l_tmp=$(time_cmd "$LS_ROUNDS" ls -l "$FLOOR/dir" | median_ms)

shares=$(find "$MNT/shares" -mindepth 1 -maxdepth 1 -type d | wc -l)
[[ $shares -ge $ROUNDS ]] || echo "warning: only $shares shares were made" >&2

row() {
	awk -v op="$1" -v a="$2" -v b="$3" 'BEGIN {
		r = (b > 0) ? sprintf("%.1fx", a / b) : "-"
		printf "%-34s %12.3f %12.3f %9s\n", op, a, b, r }'
}
printf '\n%-34s %12s %12s %9s\n' "operation (median)" "cloudfs ms" "tmpfs ms" "ratio"
row "echo add … > /shares/ctl" "$e_cfs" "$e_tmp"
row "cat /instances/NAME/status" "$c_cfs" "$c_tmp"
row "ls -l of 1,000 entries" "$l_cfs" "$l_tmp"
echo
echo "binary: $CLOUDFS"
