#!/usr/bin/env bats
# Snapshot trees through the mount: repositories made here by the real restic
# (version 2 twice, version 1 once), attached with [repos.USER], compared
# node by node with what `restic restore` writes; tar; refresh and latest;
# a wrong password; the same over REST (rclone serve restic, basic auth);
# read-only everywhere; peak memory while walking many files.

load ../lib/common

setup_file() {
	command -v restic >/dev/null || skip "restic not installed"
	export FIX
	FIX=$(mktemp -d /tmp/cfs-snapfix.XXXXXX)
	chmod 755 "$FIX"
	echo fixture-password >"$FIX/pw"
	export RESTIC_PASSWORD_FILE=$FIX/pw
	bash "$CFS_ROOT/tests/lib/restic/make_tree.sh" "$FIX/src" 300 >/dev/null 2>&1
	restic -q init -r "$FIX/v2"
	restic -q -r "$FIX/v2" backup --host hostA --tag first "$FIX/src" >/dev/null
	# 1% of the files change, one goes, one comes
	for i in 1 2 3; do echo changed >>"$FIX/src/many/f$i"; done
	rm "$FIX/src/many/f4"
	echo new >"$FIX/src/many/new"
	restic -q -r "$FIX/v2" backup --host hostB --tag second "$FIX/src" >/dev/null
	restic -q init -r "$FIX/v1" --repository-version 1
	restic -q -r "$FIX/v1" backup "$FIX/src" >/dev/null
	for r in v2 v1; do
		restic -r "$FIX/$r" snapshots --json >"$FIX/$r.json"
		for id in $(python3 -c 'import json,sys; [print(s["id"]) for s in json.load(open(sys.argv[1]))]' "$FIX/$r.json"); do
			restic -q -r "$FIX/$r" restore "$id" --target "$FIX/restore/$id" >/dev/null
		done
	done
}

teardown_file() {
	if [ -n "${FIX:-}" ]; then rm -rf "$FIX"; fi
}

setup() {
	cfs_need_root
	command -v restic >/dev/null || skip "restic not installed"
	export RESTIC_PASSWORD_FILE=$FIX/pw
	STATE=$(mktemp -d /tmp/cfs-snapstate.XXXXXX)
	cat >"$STATE/cloudfs.conf" <<EOF
[repos]
refresh = 3600s

[repos.alice]
path = $FIX/v2
password_file = $FIX/pw

[repos.old]
path = $FIX/v1
password_file = $FIX/pw
EOF
	cfs_mount
	CFS_EXTRA_DIRS+=("$STATE")
}

teardown() {
	if [ -n "${RCLONE_PID:-}" ]; then
		kill "$RCLONE_PID" 2>/dev/null || true
		wait "$RCLONE_PID" 2>/dev/null || true
	fi
	cfs_teardown
}

snap_dir() {   # snap_dir USER ID → the snapshot's directory under the mount
	local short=${2:0:8} d
	d=$(readlink "$MNT/repos/$1/snapshots/ids/$2")
	echo "$MNT/repos/$1/snapshots/${d#../}"
	[[ $d == *"$short"* ]]
}

@test "every snapshot of a v2 and a v1 repository equals what restic restore writes" {
	for r in alice:v2 old:v1; do
		local user=${r%%:*} repo=${r#*:}
		for id in $(python3 -c 'import json,sys; [print(s["id"]) for s in json.load(open(sys.argv[1]))]' "$FIX/$repo.json"); do
			local d
			d=$(snap_dir "$user" "$id")
			run python3 "$CFS_ROOT/tests/lib/treecmp.py" "$d$FIX/src" "$FIX/restore/$id$FIX/src"
			echo "$output"
			[ "$status" -eq 0 ]
			tar -C "$d" -cf - . | tar -tf - >/dev/null
		done
	done
}

@test "snapshot directories are named TIME-SHORTID with latest, ids, hosts and tags" {
	local S=$MNT/repos/alice/snapshots
	local n
	n=$(ls "$S" | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z-[0-9a-f]{8}$')
	[ "$n" -eq 2 ]
	local newest
	newest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["short_id"])' "$FIX/v2.json")
	[[ $(readlink "$S/latest") == *"-$newest" ]]
	[ -d "$S/hosts/hostA" ] && [ -d "$S/hosts/hostB" ]
	[ -L "$S/tags/first/$(ls "$S/tags/first")" ]
	[ "$(ls "$S/ids" | wc -l)" -eq 2 ]
	# find walks each snapshot once: the groupings are symlinks
	[ "$(find "$S" -name big.bin | wc -l)" -eq 2 ]
}

@test "snapshot trees are read-only: every change is EROFS" {
	local d
	d=$(readlink -f "$MNT/repos/alice/snapshots/latest")$FIX/src
	run sh -c "echo x > '$d/small.txt'"
	[[ $output == *"Read-only file system"* ]]
	run touch "$d/newfile"
	[[ $output == *"Read-only file system"* ]]
	run rm "$d/small.txt"
	[[ $output == *"Read-only file system"* ]]
	run mv "$d/small.txt" "$d/other"
	[[ $output == *"Read-only file system"* ]]
	run chmod 777 "$d/small.txt"
	[[ $output == *"Read-only file system"* ]]
	run mkdir "$d/dir"
	[[ $output == *"Read-only file system"* ]]
	run setfattr -n user.x -v y "$d/small.txt"
	[ "$status" -ne 0 ]
}

@test "a new backup appears at refresh and latest moves; a forgotten one goes" {
	local S=$MNT/repos/alice/snapshots before
	before=$(readlink "$S/latest")
	cp -r "$FIX/v2" "$BATS_TEST_TMPDIR/repo"
	sed -i "s|path = $FIX/v2|path = $BATS_TEST_TMPDIR/repo|" "$STATE/cloudfs.conf"
	cfs_remount
	[ "$(readlink "$S/latest")" = "$before" ]
	echo third >"$BATS_TEST_TMPDIR/third.txt"
	sleep 1
	restic -q -r "$BATS_TEST_TMPDIR/repo" backup "$BATS_TEST_TMPDIR/third.txt" >/dev/null
	ctl_ok "$MNT/repos/alice/ctl" refresh
	[ "$(outcome_key snapshots)" = 3 ]
	[ "$(readlink "$S/latest")" != "$before" ]
	[ "$(cat "$S/latest$BATS_TEST_TMPDIR/third.txt")" = third ]
	local first first_dir
	first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$FIX/v2.json")
	first_dir=$(readlink "$S/ids/$first")
	restic -q -r "$BATS_TEST_TMPDIR/repo" forget "$first" >/dev/null
	ctl_ok "$MNT/repos/alice/ctl" refresh
	[ "$(outcome_key snapshots)" = 2 ]
	[ "$(ls "$S/ids" | wc -l)" -eq 2 ]
	[ ! -e "$S/${first_dir#../}" ]
	[ ! -e "$S/ids/$first" ]
}

@test "a wrong password makes snapshots/ fail with EACCES and says why in /self/errors" {
	echo wrong >"$BATS_TEST_TMPDIR/bad"
	python3 - "$STATE/cloudfs.conf" "$FIX/pw" "$BATS_TEST_TMPDIR/bad" <<'EOF'
import sys
path, good, bad = sys.argv[1:]
text = open(path).read()
head, _, rest = text.partition("[repos.alice]")
section, _, tail = rest.partition("[repos.old]")
open(path, "w").write(head + "[repos.alice]" + section.replace(good, bad) + "[repos.old]" + tail)
EOF
	cfs_remount
	run ls "$MNT/repos/alice/snapshots/"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	grep -q '/repos/alice/snapshots .*EACCES' "$MNT/self/errors"
	# the other repository is unaffected
	[ -L "$MNT/repos/old/snapshots/latest" ]
}

@test "a repository over REST (rclone serve restic, basic auth) reads the same" {
	command -v rclone >/dev/null || skip "rclone not installed"
	command -v htpasswd >/dev/null || skip "htpasswd not installed"
	local port=$((30000 + RANDOM % 20000))
	mkdir -p "$BATS_TEST_TMPDIR/rest"
	cp -r "$FIX/v2" "$BATS_TEST_TMPDIR/rest/carol"
	htpasswd -nbB carol s3cret >"$BATS_TEST_TMPDIR/htpasswd"
	rclone serve restic "$BATS_TEST_TMPDIR/rest" --addr "127.0.0.1:$port" \
		--htpasswd "$BATS_TEST_TMPDIR/htpasswd" --private-repos >/dev/null 2>&1 3>&- &
	RCLONE_PID=$!
	wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/"
	cat >>"$STATE/cloudfs.conf" <<EOF

[repos.carol]
url = rest:http://carol:s3cret@127.0.0.1:$port/carol/
password_file = $FIX/pw
EOF
	cfs_remount
	local id
	id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["id"])' "$FIX/v2.json")
	local d
	d=$(snap_dir carol "$id")
	run python3 "$CFS_ROOT/tests/lib/treecmp.py" "$d$FIX/src" "$FIX/restore/$id$FIX/src"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "peak memory while walking 200,000 small files stays under 150 MB (release figure: README)" {
	[ "${CFS_SKIP_SLOW:-0}" = 1 ] && skip "CFS_SKIP_SLOW=1"
	local src=$BATS_TEST_TMPDIR/many
	python3 - "$src" <<'EOF'
import os, sys
root = sys.argv[1]
for d in range(400):
    p = os.path.join(root, "d%03d" % d)
    os.makedirs(p)
    for f in range(500):
        with open(os.path.join(p, "f%03d" % f), "w") as fh:
            fh.write("%d %d\n" % (d, f))
EOF
	restic -q init -r "$BATS_TEST_TMPDIR/big"
	restic -q -r "$BATS_TEST_TMPDIR/big" backup "$src" >/dev/null
	cat >>"$STATE/cloudfs.conf" <<EOF

[repos.bulk]
path = $BATS_TEST_TMPDIR/big
password_file = $FIX/pw
EOF
	cfs_remount
	local n
	n=$(find "$MNT/repos/bulk/snapshots/latest/" -type f | wc -l)
	[ "$n" -eq 200000 ]
	local hwm
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$CFS_PID/status")
	echo "peak RSS ${hwm} kB"
	# the bound holds under AddressSanitizer too, which adds its own overhead
	[ "$hwm" -lt $((150 * 1024 * (${CFS_ASAN_FACTOR:-3}))) ]
}
