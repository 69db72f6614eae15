#!/usr/bin/env bash
# Benchmarks for live instances, run by hand as root (never in CI):
#  (a) poller sweep time for N agents on loopback (default 200);
#  (b) median latency of `cat /instances/NAME/health` beside curl fetching the
#      same endpoint directly from the agent (the floor; signing done beforehand);
#  (c) cp of a SIZE_MB file (default 500) into and out of files/ beside cp on
#      local disk and beside curl uploading/downloading the same bytes to the
#      agent in 4 MiB signed requests.
# Figures are ratios against the floor measured in the same run.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build-bench}
N=${N:-200}
SIZE_MB=${SIZE_MB:-500}
REPS=${REPS:-50}

if [ ! -x "$build/fs/cloudfs" ]; then
	meson setup "$build" "$here" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$build" fs/cloudfs tools/cloudfs-agent tests/unit/wire/cfs-sign >/dev/null
CLOUDFS=$build/fs/cloudfs AGENT=$build/tools/cloudfs-agent SIGN=$build/tests/unit/wire/cfs-sign

T=$(mktemp -d /tmp/cfs-bench-inst.XXXXXX)
MNT=$T/mnt
mkdir -p "$MNT" "$T/state"
pids=()
cleanup() {
	fusermount3 -u "$MNT" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

"$CLOUDFS" "$MNT" -o "state=$T/state,poll.interval=3600s,poll.timeout=10s"
for _ in $(seq 50); do mountpoint -q "$MNT" && break; sleep 0.1; done
menv=$(cat "$MNT/self/env_id")

echo "starting $N agents"
for i in $(seq 1 "$N"); do
	d=$T/a$i
	mkdir -p "$d/root"
	port=$((20000 + i))
	env=$("$AGENT" init --root "$d/root" --listen "127.0.0.1:$port" --state "$d/state" 2>/dev/null)
	echo "add a$i http://127.0.0.1:$port env=$env" >"$MNT/instances/ctl"
	secret=$(tail -n 1 "$MNT/instances/ctl" | sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p')
	echo "$secret" >"$d/secret"
	"$AGENT" pair "$menv" "$secret" --state "$d/state" >/dev/null 2>&1
	"$AGENT" serve --state "$d/state" 2>/dev/null &
	pids+=($!)
done
sleep 2

# (a) one sweep over every instance, twice (the second reuses connections)
for round in 1 2; do
	t0=$(now)
	echo refresh >"$MNT/instances/ctl"
	t1=$(now)
	online=$(grep -c . <(for i in $(seq 1 "$N"); do grep -x online "$MNT/instances/a$i/status"; done) || true)
	printf '(a) poller sweep %d over %d agents: %.3f s (%s online)\n' "$round" "$N" \
		"$(echo "$t1 - $t0" | bc)" "$online"
done

# (b) cat health vs curl of the same endpoint
lat_cfs=() lat_curl=()
port=20001
secret=$(cat "$T/a1/secret")
for _ in $(seq "$REPS"); do
	t0=$(now); cat "$MNT/instances/a1/health" >/dev/null; t1=$(now)
	lat_cfs+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
	mapfile -t sig < <("$SIGN" --secret "$secret" --env "$menv" --method GET --target /v1/health \
		--host "127.0.0.1:$port")
	t0=$(now); curl -s -o /dev/null "${sig[@]}" "http://127.0.0.1:$port/v1/health"; t1=$(now)
	lat_curl+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
done
m_cfs=$(printf '%s\n' "${lat_cfs[@]}" | median)
m_curl=$(printf '%s\n' "${lat_curl[@]}" | median)
printf '(b) cat health median %.2f ms, curl direct %.2f ms, ratio %.2f\n' "$m_cfs" "$m_curl" \
	"$(echo "$m_cfs / $m_curl" | bc -l)"

# (c) big file in and out
big=$T/big
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$big"
F=$MNT/instances/a1/files
sync
t0=$(now); cp "$big" "$T/local.copy"; sync; t1=$(now); local_in=$(echo "$t1 - $t0" | bc)
t0=$(now); cp "$big" "$F/big"; t1=$(now); cfs_in=$(echo "$t1 - $t0" | bc)
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
t0=$(now); cp "$F/big" "$T/back"; t1=$(now); cfs_out=$(echo "$t1 - $t0" | bc)
cmp "$big" "$T/back"

# curl floor: download in 4 MiB ranges, upload through one write session
chunk=$((4 * 1024 * 1024))
t0=$(now)
for ((off = 0; off < SIZE_MB * 1024 * 1024; off += chunk)); do
	tg="/v1/file/read?path=big&offset=$off&length=$chunk"
	mapfile -t sig < <("$SIGN" --secret "$secret" --env "$menv" --method GET --target "$tg" \
		--host "127.0.0.1:$port")
	curl -s "${sig[@]}" "http://127.0.0.1:$port$tg" >>"$T/curl.back"
done
t1=$(now); curl_out=$(echo "$t1 - $t0" | bc)
cmp "$big" "$T/curl.back"
tg="/v1/file/open?path=big2&create=1&truncate=1"
mapfile -t sig < <("$SIGN" --secret "$secret" --env "$menv" --method POST --target "$tg" \
	--host "127.0.0.1:$port")
t0=$(now)
sid=$(curl -s -X POST "${sig[@]}" "http://127.0.0.1:$port$tg" | sed -n 's/.*"session":"\([0-9a-f]*\)".*/\1/p')
split -b "$chunk" -d -a 4 "$big" "$T/part."
off=0
for p in "$T"/part.*; do
	h=$(xxhsum -H2 "$p" | cut -d' ' -f1)
	tg="/v1/file/write?session=$sid&offset=$off&xxh128=$h"
	mapfile -t sig < <("$SIGN" --secret "$secret" --env "$menv" --method POST --target "$tg" \
		--host "127.0.0.1:$port" --body "$p")
	curl -s -o /dev/null -X POST "${sig[@]}" --data-binary "@$p" "http://127.0.0.1:$port$tg"
	off=$((off + $(stat -c %s "$p")))
done
tg="/v1/file/commit?session=$sid"
mapfile -t sig < <("$SIGN" --secret "$secret" --env "$menv" --method POST --target "$tg" \
	--host "127.0.0.1:$port")
curl -s -o /dev/null -X POST "${sig[@]}" "http://127.0.0.1:$port$tg"
t1=$(now); curl_in=$(echo "$t1 - $t0" | bc)
cmp "$big" "$T/a1/root/big2"

printf '(c) %d MB in:  cloudfs %.2f s, local cp %.2f s (ratio %.2f), curl %.2f s (ratio %.2f)\n' \
	"$SIZE_MB" "$cfs_in" "$local_in" "$(echo "$cfs_in / $local_in" | bc -l)" "$curl_in" \
	"$(echo "$cfs_in / $curl_in" | bc -l)"
printf '(c) %d MB out: cloudfs %.2f s, curl %.2f s (ratio %.2f)\n' "$SIZE_MB" "$cfs_out" \
	"$curl_out" "$(echo "$cfs_out / $curl_out" | bc -l)"
