#!/usr/bin/env bats
# A subset of the POSIX conformance suite (pjdfstest, from the shared
# third_party folder beside the repository) run inside an instance's files/
# through a real agent.  The whole suite is run by hand (README gives the
# score); CI runs mkdir, rmdir, symlink, link, unlink, truncate and chmod.
# The suite's uids act as superadmins so the agent's kernel decides access.

load ../lib/common

AGENT=${CLOUDFS_AGENT:-$CFS_ROOT/build/tools/cloudfs-agent}
PJD_SRC=${PJDFSTEST_SRC:-$CFS_ROOT/../shared/third_party/pjdfstest}

setup_file() {
	[ -d "$PJD_SRC/tests" ] || skip "pjdfstest sources not found at $PJD_SRC"
	command -v autoreconf >/dev/null || skip "autoconf not installed"
	command -v prove >/dev/null || skip "prove (perl) not installed"
	export PJD
	PJD=$(mktemp -d /tmp/cfs-pjd.XXXXXX)
	cp -r "$PJD_SRC/." "$PJD/"
	(cd "$PJD" && autoreconf -ifs && ./configure && make pjdfstest) >"$PJD/build.log" 2>&1
}

teardown_file() {
	if [ -n "${PJD:-}" ]; then rm -rf "$PJD"; fi
}

setup() {
	cfs_need_root
	[ -x "$AGENT" ] || skip "no $AGENT: build first"
	[ -x "${PJD:-}/pjdfstest" ] || skip "pjdfstest did not build"
	STATE=$(cfs_tmpdir)
	printf '[users]\nsuperadmins = uid:65534 uid:65533 uid:65532 uid:65531\n' >"$STATE/cloudfs.conf"
	cfs_mount -o poll.interval=1s
	CFS_EXTRA_DIRS+=("$STATE")
	A=$CFS_TMP/agent
	mkdir -p "$A/root"
	chmod 755 "$A/root"
	local env
	env=$("$AGENT" init --root "$A/root" --listen 127.0.0.1:0 --state "$A/state")
	"$AGENT" serve --state "$A/state" 2>"$A/agent.log" 3>&- &
	APID=$!
	wait_for 10 grep -q 'listening on .*(port [0-9]*, ' "$A/agent.log"
	local port
	port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$A/agent.log" | head -1)
	ctl_ok "$MNT/instances/ctl" "add pjd http://127.0.0.1:$port env=$env"
	local secret
	secret=$(sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p' <<<"$outcome")
	"$AGENT" pair "$(cat "$MNT/self/env_id")" "$secret" --state "$A/state" >/dev/null
	wait_for 10 grep -qx online "$MNT/instances/pjd/status"
}

teardown() {
	if [ -n "${APID:-}" ]; then
		kill -TERM "$APID" 2>/dev/null || true
		wait "$APID" 2>/dev/null || true
	fi
	cfs_teardown
}

@test "pjdfstest mkdir, rmdir, symlink, link, unlink, truncate and chmod pass in files/" {
	local dir=$MNT/instances/pjd/files/t
	mkdir "$dir"
	cd "$dir"
	local t
	local args=()
	for t in mkdir rmdir symlink link unlink truncate chmod; do
		args+=("$PJD/tests/$t")
	done
	run prove -r "${args[@]}"
	cd /
	echo "$output" | tail -n 25
	local total failed
	total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' <<<"$output")
	failed=$(grep -o 'Failed: [0-9]*)' <<<"$output" | grep -o '[0-9]*' | awk '{s += $1} END {print s + 0}')
	echo "pjdfstest subset: $((total - failed)) of $total passed"
	[ "$total" -gt 1000 ]
	# allow a handful of known differences (see the README), never more
	[ "$failed" -le $((total / 50)) ]
}
