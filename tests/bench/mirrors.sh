#!/usr/bin/env bash
# Mirrors beside rsync, run by hand as root (never in CI).  Two agents on
# 127.0.0.1 behind one mount; the same trees copied by
#   cloudfs   echo "sync src:t dst:t" > /mirrors/ctl (blocks until done)
#   rsync -a, rsync -a --checksum (local, as rsync runs between two paths),
#   rsync over its daemon on 127.0.0.1 (the network case: delta algorithm on)
# for: (1) the initial sync of FILES files / TOTAL_MB MB, (2) a re-sync after
# 1% of the files changed (REPS rounds, each changing other files),
# (3) a no-op re-sync (warm hash cache), (4) a BIG_MB file with 1 MB
# changed in its middle (BIG_MB=0 skips it).  Wall time (median of REPS
# for the quick cases) and bytes on the wire: for cloudfs the data that went
# from the source agent to the manager (the same goes on to the
# destination) plus the chunk lists of a delta; for rsync its --stats
# "Total bytes sent" + "received".
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build-bench}
FILES=${FILES:-10000}
TOTAL_MB=${TOTAL_MB:-500}
BIG_MB=${BIG_MB:-1024}
REPS=${REPS:-5}

for tool in rsync python3 bc; do
	command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
if [ ! -x "$build/fs/cloudfs" ]; then
	meson setup "$build" "$here" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$build" fs/cloudfs tools/cloudfs-agent >/dev/null
CLOUDFS=$build/fs/cloudfs AGENT=$build/tools/cloudfs-agent

T=$(mktemp -d /tmp/cfs-bench-mirrors.XXXXXX)
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
secs() { echo "$2 - $1" | bc; }

"$CLOUDFS" "$MNT" -o "state=$T/state,poll.interval=2s,poll.timeout=30s"
for _ in $(seq 50); do mountpoint -q "$MNT" && break; sleep 0.1; done
menv=$(cat "$MNT/self/env_id")

agent() {
	local n=$1 port=$2 d=$T/$1
	mkdir -p "$d/root"
	local env
	env=$("$AGENT" init --root "$d/root" --listen "127.0.0.1:$port" --state "$d/state" 2>/dev/null)
	echo "add $n http://127.0.0.1:$port env=$env" >"$MNT/instances/ctl"
	local secret
	secret=$(tail -n 1 "$MNT/instances/ctl" | sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p')
	"$AGENT" pair "$menv" "$secret" --state "$d/state" >/dev/null 2>&1
	"$AGENT" serve --state "$d/state" 2>"$d/log" &
	pids+=($!)
}
agent src 21101
agent dst 21102
SRC=$T/src/root DST=$T/dst/root
for _ in $(seq 100); do
	grep -qx online "$MNT/instances/src/status" && grep -qx online "$MNT/instances/dst/status" && break
	sleep 0.1
done

# rsync's daemon on 127.0.0.1, one module per destination
mkdir -p "$T/rd"
cat >"$T/rsyncd.conf" <<EOF
pid file = $T/rsyncd.pid
use chroot = no
[d]
path = $T/rd
read only = no
uid = root
gid = root
EOF
rsync --daemon --config="$T/rsyncd.conf" --port=21873 --address=127.0.0.1
sleep 0.5
pids+=("$(cat "$T/rsyncd.pid")")

echo "generating $FILES files, $TOTAL_MB MB"
python3 - "$SRC/t" "$FILES" "$TOTAL_MB" <<'EOF'
import os, random, sys
root, n, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
random.seed(1)
# 1% of the files hold half the bytes; the rest are small
big = max(1, n // 100)
big_size = (total // 2) // big
small_size = (total - big * big_size) // (n - big)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 50), "e%d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    size = big_size if i < big else random.randint(small_size // 2, small_size * 3 // 2)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(size))
EOF
sync

# run_cfs → sets DT (seconds) and WIRE (bytes)
run_cfs() {
	local t0 t1 job
	t0=$(now)
	echo "sync src:$1 dst:$1" >"$MNT/mirrors/ctl"
	t1=$(now)
	DT=$(secs "$t0" "$t1")
	job=$(tail -n 1 "$MNT/mirrors/ctl" | sed -n 's/.*job=\([0-9]*\).*/\1/p')
	WIRE=$(sed -n 's/.*copied (\([0-9]*\) bytes sent).*/\1/p' "$MNT/jobs/$job/log")
	LISTED=$(sed -n 's/.*(listed in \([0-9]*\) ms).*/\1/p' "$MNT/jobs/$job/log")
}
# run_rsync DEST ARGS… → DT, WIRE
run_rsync() {
	local dest=$1 t0 t1 out
	shift
	t0=$(now)
	out=$(rsync "$@" --stats "$dest")
	t1=$(now)
	DT=$(secs "$t0" "$t1")
	WIRE=$(awk '/^Total bytes sent:/ {gsub(",","",$4); s=$4} /^Total bytes received:/ {gsub(",","",$4); r=$4} END {print s+r}' <<<"$out")
}

row() { printf '%-34s %-22s %9.3f s %14s bytes\n' "$1" "$2" "$3" "$4"; }

all() {
	local label=$1 sub=$2
	run_cfs "$sub"; row "$label" cloudfs "$DT" "$WIRE"; CFS_DT=$DT
	run_rsync "$T/r1/" -a "$SRC/$sub/"; row "$label" "rsync -a" "$DT" "$WIRE"; R1_DT=$DT
	run_rsync "$T/r2/" -a --checksum "$SRC/$sub/"; row "$label" "rsync -a --checksum" "$DT" "$WIRE"
	run_rsync "rsync://127.0.0.1:21873/d/" -a "$SRC/$sub/"; row "$label" "rsync daemon" "$DT" "$WIRE"
	printf '%-34s cloudfs / rsync -a = %.2f\n' "$label" "$(echo "$CFS_DT / $R1_DT" | bc -l)"
}

echo
all "(1) initial sync" t

# (2) REPS rounds, each changing another 1% of the files: medians
change_1pct() {
	python3 - "$SRC/t" "$FILES" "$1" <<'EOF'
import os, random, sys
root, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(seed)
changed = 0
for i in random.sample(range(n), n // 100):
    d = os.path.join(root, "d%02d" % (i % 50), "e%d" % (i % 7), "f%05d" % i)
    size = os.path.getsize(d)
    with open(d, "wb") as f:
        f.write(os.urandom(size))
    changed += size
print(changed)
EOF
}
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
declare -A t2 w2
changed=() listed=()
for rep in $(seq "$REPS"); do
	changed+=("$(change_1pct "$rep")")
	run_cfs t; t2[cfs]+="$DT "; w2[cfs]+="$WIRE "; listed+=("$LISTED")
	run_rsync "$T/r1/" -a "$SRC/t/"; t2[r1]+="$DT "; w2[r1]+="$WIRE "
	run_rsync "$T/r2/" -a --checksum "$SRC/t/"; t2[r2]+="$DT "; w2[r2]+="$WIRE "
	run_rsync "rsync://127.0.0.1:21873/d/" -a "$SRC/t/"; t2[rd]+="$DT "; w2[rd]+="$WIRE "
done
echo "(2) changed bytes per round: ${changed[*]}"
echo "(2) cloudfs bytes per round: ${w2[cfs]}"
echo "(2) cloudfs times per round: ${t2[cfs]}(of which listing both sides, ms: ${listed[*]})"
for k in cfs r1 r2 rd; do
	case $k in cfs) n=cloudfs ;; r1) n="rsync -a" ;; r2) n="rsync -a --checksum" ;; *) n="rsync daemon" ;; esac
	row "(2) 1% changed, median of $REPS" "$n" "$(med "${t2[$k]}")" "$(med "${w2[$k]}")"
done
printf '%-34s cloudfs / rsync -a = %.2f\n' "(2) 1% changed" \
	"$(echo "$(med "${t2[cfs]}") / $(med "${t2[r1]}")" | bc -l)"
echo
times=()
for _ in $(seq "$REPS"); do run_cfs t; times+=("$DT"); done
row "(3) no-op re-sync, median of $REPS" cloudfs "$(printf '%s\n' "${times[@]}" | median)" "$WIRE"
times=()
for _ in $(seq "$REPS"); do run_rsync "$T/r1/" -a "$SRC/t/"; times+=("$DT"); done
row "(3) no-op re-sync, median of $REPS" "rsync -a" "$(printf '%s\n' "${times[@]}" | median)" "$WIRE"
times=()
for _ in $(seq "$REPS"); do run_rsync "rsync://127.0.0.1:21873/d/" -a "$SRC/t/"; times+=("$DT"); done
row "(3) no-op re-sync, median of $REPS" "rsync daemon" "$(printf '%s\n' "${times[@]}" | median)" "$WIRE"

((BIG_MB > 0)) || exit 0
echo
echo "(4) a $BIG_MB MB file"
mkdir -p "$SRC/big"
head -c "$((BIG_MB << 20))" /dev/urandom >"$SRC/big/file"
run_cfs big; row "(4) initial" cloudfs "$DT" "$WIRE"
mkdir -p "$T/r1big" "$T/rdbig"
run_rsync "$T/r1big/" -a "$SRC/big/"
run_rsync "rsync://127.0.0.1:21873/d/big/" -a "$SRC/big/"
head -c 1048576 /dev/urandom | dd of="$SRC/big/file" bs=1048576 seek=$((BIG_MB / 2)) conv=notrunc status=none
run_cfs big; row "(4) 1 MB changed" cloudfs "$DT" "$WIRE"; CFS_DT=$DT
run_rsync "$T/r1big/" -a "$SRC/big/"; row "(4) 1 MB changed" "rsync -a (whole file)" "$DT" "$WIRE"; R1_DT=$DT
run_rsync "rsync://127.0.0.1:21873/d/big/" -a "$SRC/big/"; row "(4) 1 MB changed" "rsync daemon (delta)" "$DT" "$WIRE"
printf '%-34s cloudfs / rsync -a = %.2f\n' "(4) 1 MB changed" "$(echo "$CFS_DT / $R1_DT" | bc -l)"
cmp "$SRC/big/file" "$DST/big/file" && echo "(4) copies identical"
