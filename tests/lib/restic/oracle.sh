#!/bin/bash
# oracle.sh RR_WALK RR_HTPASSWD — the restic reader against the real restic CLI.
#
# Builds a fixture tree, backs it up twice (with a small change) into a
# version 2 repository and once into a version 1 repository, then checks for
# every snapshot that the reader's tree equals `restic ls --json` and what
# `restic restore` writes; the same over REST (rclone serve restic with basic
# auth); one corrupted pack byte fails exactly the files using that blob; a new
# backup appears (and a forgotten snapshot goes) without reopening; wrong
# passwords give EACCES; the index cache is reused; bytes per blob.
# Exit 77 (skip) when restic is not installed.
set -u
walk=$(realpath "$1")
htpasswd_tool=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
command -v restic >/dev/null || { echo "restic not installed: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed: skipped"; exit 77; }

T=$(mktemp -d)
rclone_pid=
cleanup() {
	[ -n "$rclone_pid" ] && kill "$rclone_pid" 2>/dev/null && wait "$rclone_pid" 2>/dev/null
	chmod -R u+rwX "$T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
expect() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

export RESTIC_PASSWORD=oracle-pw RESTIC_CACHE_DIR=$T/restic-cache
printf '%s\n' "$RESTIC_PASSWORD" > "$T/pw"
export TZ=UTC

"$here/make_tree.sh" "$T/src" 300
cd "$T"
restic -q init -r "$T/v2" >/dev/null || exit 1
restic -q init -r "$T/v1" --repository-version 1 >/dev/null || exit 1
restic -q -r "$T/v2" backup --host alpha --tag daily src >/dev/null || exit 1
# a small change: one file edited, one added, one removed
printf 'changed\n' >> src/many/f7
printf 'new\n' > src/many/added
rm src/many/f8
restic -q -r "$T/v2" backup --host beta --tag daily --tag extra src >/dev/null || exit 1
restic -q -r "$T/v1" backup --host alpha src >/dev/null || exit 1
# a version 1 repository upgraded to 2, then backed up with and without
# compression: raw and compressed blobs and files side by side
cp -a "$T/v1" "$T/mixed"
restic -q -r "$T/mixed" migrate upgrade_repo_v2 >/dev/null 2>&1 || exit 1
printf 'after upgrade\n' > src/many/upgraded
restic -q -r "$T/mixed" backup --host gamma src >/dev/null || exit 1
printf 'uncompressed\n' > src/many/raw
restic -q -r "$T/mixed" backup --host gamma --compression off src >/dev/null || exit 1

# restic ls and restore of every snapshot, into T/snap/<repo>-<id>/
snapdirs=()
for repo in v2 v1 mixed; do
	for id in $(restic -r "$T/$repo" snapshots --json | python3 -c \
		'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))'); do
		sd=$T/snap/$repo-${id:0:8}
		mkdir -p "$sd"
		echo "$id" > "$sd/id"
		restic -r "$T/$repo" ls --json "$id" > "$sd/ls.json" || bad "restic ls $id"
		restic -q -r "$T/$repo" restore "$id" --target "$sd/restore" >/dev/null 2>&1 ||
			bad "restic restore $id"
		snapdirs+=("$sd")
	done
done

for repo in v2 v1 mixed; do
	"$walk" --content --stats "$T/$repo" "$T/pw" > "$T/walk-$repo.jsonl" 2> "$T/walk-$repo.err"
	expect "walk $repo" test $? = 0
	expect "walk $repo logs nothing" test ! -s "$T/walk-$repo.err"
	head -5 "$T/walk-$repo.err"
	python3 "$here/compare.py" "$T/walk-$repo.jsonl" "$T"/snap/$repo-* > "$T/cmp-$repo.txt"
	expect "walk $repo equals restic ls and restore" test $? = 0
	grep -v '^FAIL' "$T/cmp-$repo.txt" | tail -1
	grep '^FAIL' "$T/cmp-$repo.txt" | head -20
done

# several threads reading every file at once, with a cache small enough to evict
# (and a thread listing snapshots/ and refreshing all along)
"$walk" --parallel 4 --refresh 1 --stats --blob-cache 16000000 "$T/v2" "$T/pw" > "$T/par.txt" \
	2> "$T/par.err"
expect "parallel reads agree with a sequential read" \
	grep -q '"files":[1-9][0-9]*,"mismatches":0' "$T/par.txt"
expect "parallel reads log nothing" test ! -s "$T/par.err"
python3 - "$T/par.txt" <<'EOF'
import json, sys
st = [json.loads(l)["stats"] for l in open(sys.argv[1]) if l.startswith('{"stats"')][0]
print(f"blob cache after parallel reads: {st['cache_bytes']} bytes (cap 16000000), "
      f"{st['cache_hits']} hits, {st['cache_misses']} misses")
sys.exit(0 if 0 < st["cache_bytes"] <= 16000000 else 1)
EOF
expect "blob cache stays within its size" test $? = 0

# snapshots/ level: names, latest, ids/, hosts/, tags/
"$walk" --top "$T/v2" "$T/pw" > "$T/top.txt"
nsnap=$(grep -c '^[0-9].*Z-[0-9a-f]\{8\}/$' "$T/top.txt")
expect "two snapshot directories" test "$nsnap" = 2
newest=$(restic -r "$T/v2" snapshots --json latest | python3 -c \
	'import json,sys; print(json.load(sys.stdin)[0]["short_id"])')
expect "latest points at the newest" grep -q "^latest -> .*-$newest\$" "$T/top.txt"
expect "ids/ links" test "$(grep -c '^ids/[0-9a-f]\{64\} -> \.\./' "$T/top.txt")" = 2
expect "hosts/ groups" test "$(grep -c '^hosts/\(alpha\|beta\)/.* -> \.\./\.\./' "$T/top.txt")" = 2
expect "tags/ groups" test "$(grep -c '^tags/daily/' "$T/top.txt")" = 2
expect "tags/extra" test "$(grep -c '^tags/extra/' "$T/top.txt")" = 1

# the index cache: written on the first open, mapped by the next
mkdir "$T/state"
"$walk" --top --stats --cache "$T/state" "$T/v2" "$T/pw" > "$T/c1.txt"
"$walk" --top --stats --cache "$T/state" "$T/v2" "$T/pw" > "$T/c2.txt"
expect "index cache file written" test "$(ls "$T/state" | grep -c '^restic-index-')" = 1
expect "second open reads no index file" grep -q '"index_files_read":0,' "$T/c2.txt"
expect "second open maps the index" grep -q '"index_mapped":1' "$T/c2.txt"
python3 - "$T/walk-v2.jsonl" <<'EOF'
import json, sys
st = [json.loads(l)["stats"] for l in open(sys.argv[1]) if l.startswith('{"stats"')][0]
per = st["index_bytes"] / st["blobs"]
print(f"index: {st['blobs']} blobs in {st['packs']} packs, {st['index_bytes']} bytes, "
      f"{per:.1f} bytes per blob (records are {st['bytes_per_blob_const']} bytes)")
ok = st["index_bytes"] == st["blobs"] * 48 + st["packs"] * 32 and per < 64
sys.exit(0 if ok else 1)
EOF
expect "index bytes per blob" test $? = 0

# wrong password, no repository
printf 'nope\n' > "$T/badpw"
"$walk" "$T/v2" "$T/badpw" > /dev/null 2> "$T/err.txt"
expect "wrong password fails" test $? != 0
expect "wrong password is EACCES" grep -q '^EACCES: wrong password' "$T/err.txt"
"$walk" "$T/nothing" "$T/pw" > /dev/null 2> "$T/err.txt"
expect "missing repository is ENOENT" grep -q '^ENOENT:' "$T/err.txt"

# one corrupted byte in one pack: exactly the files using that blob fail
cp -a "$T/v1" "$T/bad"
"$walk" --blobs "$T/bad" "$T/pw" > "$T/blobs.jsonl"
target=$(python3 - "$T/blobs.jsonl" <<'EOF'
import json, sys
nodes = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"snap"')]
for n in nodes:
    if bytes.fromhex(n["path"]).endswith(b"/many/f5") and n.get("blobs"):
        blob, pack, off, length = n["blobs"][0].split()
        print(pack, int(off) + int(length) // 2, blob)
        break
EOF
)
read -r pack off blob <<< "$target"
if [ -n "${pack:-}" ]; then
	f=$(ls "$T"/bad/data/*/"$pack")
	chmod u+w "$f"
	printf '\x5a' | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
	"$walk" --content --blobs "$T/bad" "$T/pw" > "$T/badwalk.jsonl" 2> "$T/badwalk.err"
	python3 - "$T/badwalk.jsonl" "$T/walk-v1.jsonl" "$blob" <<'EOF'
import json, sys
bad = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"snap"')]
good = {n["path"]: n for n in (json.loads(l) for l in open(sys.argv[2]) if l.startswith('{"snap"'))}
blob = sys.argv[3]
want = {n["path"] for n in bad if any(b.split()[0] == blob for b in n.get("blobs", []))}
got = {n["path"] for n in bad if n.get("error")}
assert all(n.get("error") in (None, "EIO") for n in bad), "errors other than EIO"
assert want and got == want, f"failed {len(got)} files, expected {len(want)}"
for n in bad:
    if n["type"] == "file" and n["path"] not in got:
        assert n["sha256"] == good[n["path"]]["sha256"], "an unaffected file changed"
print(f"corruption: {len(got)} file(s) fail with EIO, the rest read back intact")
EOF
	expect "corrupt byte fails exactly the affected files" test $? = 0
	expect "corruption logged once with pack and blob" \
		test "$(grep -c "blob $blob in pack $pack" "$T/badwalk.err")" = 1
else
	bad "corruption: no target blob found"
fi

# freshness: a new backup appears and a forgotten snapshot goes, same open
oldest=$(restic -r "$T/v2" snapshots --json | python3 -c \
	'import json,sys; print(sorted(json.load(sys.stdin), key=lambda s: s["time"])[0]["short_id"])')
sleep 1   # a snapshot time one second later than the last
"$walk" --top --refresh 1 --then "cd '$T' && restic -q -r '$T/v2' backup --host alpha src >/dev/null && restic -q -r '$T/v2' forget '$oldest' >/dev/null" \
	"$T/v2" "$T/pw" > "$T/fresh.txt"
newest=$(restic -r "$T/v2" snapshots --json latest | python3 -c \
	'import json,sys; print(json.load(sys.stdin)[0]["short_id"])')
after=$(sed -n '/^--$/,$p' "$T/fresh.txt")
expect "new snapshot appears without reopening" grep -q "^[0-9].*-$newest/\$" <<< "$after"
expect "latest moves to it" grep -q "^latest -> .*-$newest\$" <<< "$after"
expect "forgotten snapshot disappears" test "$(grep -c -- "-$oldest" <<< "$after")" = 0

# REST: the same repository through rclone serve restic with basic auth
if command -v rclone >/dev/null; then
	mkdir -p "$T/rest"
	cp -a "$T/v1" "$T/rest/user1"
	if command -v htpasswd >/dev/null; then
		htpasswd -nbB user1 httppw > "$T/htpasswd"
	else
		"$htpasswd_tool" user1 httppw > "$T/htpasswd"
	fi
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	rclone serve restic "$T/rest" --addr "127.0.0.1:$port" --htpasswd "$T/htpasswd" \
		--private-repos > "$T/rclone.log" 2>&1 &
	rclone_pid=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	url="rest:http://user1:httppw@127.0.0.1:$port/user1/"
	"$walk" --content --stats "$url" "$T/pw" > "$T/walk-rest.jsonl" 2> "$T/walk-rest.err"
	expect "walk over REST" test $? = 0
	expect "REST tree equals the local one" \
		cmp -s <(grep '^{"snap"' "$T/walk-rest.jsonl") <(grep '^{"snap"' "$T/walk-v1.jsonl")
	"$walk" --parallel 4 --blob-cache 8000000 "$url" "$T/pw" > "$T/par-rest.txt" 2>&1
	expect "parallel reads over REST" grep -q '"mismatches":0' "$T/par-rest.txt"
	"$walk" "rest:http://user1:wrong@127.0.0.1:$port/user1/" "$T/pw" > /dev/null 2> "$T/err.txt"
	expect "wrong HTTP password is EACCES" grep -q '^EACCES:' "$T/err.txt"
	"$walk" "rest:http://user1:httppw@127.0.0.1:$port/user1/" "$T/badpw" > /dev/null 2> "$T/err.txt"
	expect "wrong repository password over REST is EACCES" grep -q '^EACCES: wrong password' "$T/err.txt"
else
	echo "rclone not installed: REST checks skipped"
fi

echo "restic oracle: $pass passed, $fail failed"
[ "$fail" = 0 ]
