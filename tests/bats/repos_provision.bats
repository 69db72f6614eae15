#!/usr/bin/env bats
# /repos: provisioning users of a restic REST server (issue 5), end to end with
# the real restic and a real REST server (rclone serve restic --append-only
# --private-repos --htpasswd) running as its own unprivileged user.
#
# restic makes every repository write and spends about a second of scrypt per
# key it opens, so the tests of this file share one server, one mount and
# their repositories, and run in order: each test starts from what the ones
# before it left.  The htpasswd file starts with entries of its own (a
# comment, a CRLF line, a {SHA} entry, no final newline…) that every test
# checks are still there byte for byte.

load ../lib/common

REST_USER=cfstest_rest
PROV=$CAROL     # has the provisioner role
PLAIN=$BOB      # has no role

# The htpasswd the operator had before cloudfs: kept byte for byte.
FOREIGN=$'# entries kept by hand\nops:$2y$05$7ZbF1E9rGqzYyM9s3nq1Oe3sG6b3zZ0y2hW6J8kQ2V1wq5m0b0x3K\r\nmetrics:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n\n#alice:not-alice\nalice2:$2y$05$abcdefghijklmnopqrstuu0123456789ABCDEFGHIJKLMNOPQRSTU'

setup_file() {
	[[ $(id -u) -eq 0 ]] || skip "needs root (real test users, chown, allow_other)"
	command -v restic >/dev/null || skip "restic not installed"
	command -v rclone >/dev/null || skip "rclone not installed"
	cfs_users_create
	id -u "$REST_USER" >/dev/null 2>&1 || useradd -M -U -s /usr/sbin/nologin "$REST_USER"
	export R
	R=$(cfs_tmpdir)
	export CFS_TMP=$R ROOT=$R/root HT=$R/root/.htpasswd
	mkdir -p "$ROOT" "$R/data/sub" "$R/client"
	chown "$REST_USER:" "$ROOT"
	chmod 700 "$ROOT"
	printf '%s' "$FOREIGN" >"$HT"
	chown "root:$REST_USER" "$HT"
	chmod 640 "$HT"
	# restic as the mount runs it, with failures on demand
	cat >"$R/restic" <<-EOF
		#!/bin/sh
		for a; do
		  [ -e "$R/fail-\$a" ] && { echo "Fatal: \$a failed on purpose" >&2; exit 1; }
		done
		exec $(command -v restic) "\$@"
	EOF
	chmod 755 "$R/restic"
	rest_start
	# the nightly prune kept half a day away from this run
	local at
	at=$(date -u -d '+12 hours' +%H:%M)
	cfs_mount -o "allow_other,repos.root=$ROOT,repos.url=http://127.0.0.1:$PORT,repos.owner=$REST_USER,repos.restic=$R/restic,repos.prune_at=$at,repos.quota_scan=1s,users.provisioners=$PROV"
	export MNT STATE CFS_LOG
	# cfs_teardown in teardown_file needs these unexported ones
	echo "$CFS_PID" >"$R/cfs.pid"
}

teardown_file() {
	CFS_PID=$(cat "$R/cfs.pid" 2>/dev/null)
	cfs_teardown
}

setup() {
	[[ -n ${R:-} ]] || skip "no server"
	C=$MNT/repos/ctl
}

teardown() {
	# every test leaves the hand-made entries exactly as they were
	foreign_intact
}

# ---- helpers ----

# refute CMD… — CMD must fail (a bare `! CMD` does not fail a bats test)
refute() {
	if "$@"; then
		echo "expected to fail: $*" >&2
		return 1
	fi
}

rest_start() {
	local code
	for _ in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 20000))
		cfs_bg -u "$REST_USER" rclone serve restic "$ROOT" --addr "127.0.0.1:$PORT" \
			--append-only --private-repos --htpasswd "$HT" --config /dev/null
		for _ in $(seq 50); do
			code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/x/config") || true
			[[ $code == 401 ]] && { export PORT; return 0; }
			_pid_alive "$CFS_BG_LAST" || break
			sleep 0.1
		done
		kill "$CFS_BG_LAST" 2>/dev/null || true
	done
	echo "cannot start the REST server" >&2
	return 1
}

# The htpasswd without cloudfs's users is the hand-made file, byte for byte.
foreign_intact() {
	local got
	got=$(grep -v -E '^(alice|bob|dave|erin|frank):' "$HT"; printf x)
	# the last hand-made line had no newline; cloudfs may have added one
	[[ ${got%x} == "$FOREIGN" || ${got%x} == "$FOREIGN"$'\n' ]] || {
		echo "hand-made htpasswd entries changed:" >&2
		od -c "$HT" >&2
		return 1
	}
}

# Remember the credentials of the last add's outcome for client NAME.
save_creds() {
	outcome_key password >"$R/client/$1.pw"
	outcome_key repository >"$R/client/$1.repo"
}

# client NAME ARGS… — plain restic as a user of the service
client() {
	local who=$1; shift
	RESTIC_REPOSITORY=$(cat "$R/client/$who.repo") RESTIC_PASSWORD_FILE=$R/client/$who.pw \
		restic --no-cache "$@"
}

snap_count() {
	client "$1" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# What a failed ctl write or a refused command must not have changed.
world() {
	ls -A "$ROOT"
	cat "$HT"
	ls -A "$MNT/repos"
}

# ---- provisioning and the data plane ----

@test "add: outcome carries the password and the repository URL, shown once" {
	ctl_ok "$C" "add alice"
	pw=$(outcome_key password)
	[[ $pw =~ ^[0-9a-f]{48}$ ]]
	[ "$(outcome_key repository)" = "rest:http://alice:$pw@127.0.0.1:$PORT/alice/" ]
	save_creds alice
	# shown once: a second read says (shown)
	run tail -n 1 "$C"
	[[ $output == *"password=(shown) repository=(shown)"* ]]
	[[ $output != *$pw* ]]
	# the repository is the REST server's, the line is bcrypt at the configured cost
	[ "$(stat -c %U "$ROOT/alice" "$ROOT/alice/config" | sort -u)" = "$REST_USER" ]
	grep -q '^alice:\$2b\$05\$' "$HT"
	[ "$(stat -c '%U:%G %a' "$HT")" = "root:$REST_USER 640" ]
	[ -f "$MNT/repos/alice/stats" ]
	[ "$(key_of "$MNT/repos/alice/stats" state)" = active ]
	[ "$(key_of "$MNT/repos/alice/stats" snapshots)" = 0 ]
	[ "$(cat "$MNT/repos/alice/quota")" = max ]
	[ "$(cat "$MNT/repos/alice/retention")" = "keep-last=20 keep-daily=7 keep-weekly=4 keep-monthly=6" ]
	# a second add of an active user
	ctl_fails EEXIST "$C" "add alice"
}

@test "alice backs up, lists and restores byte-identical data through the URL" {
	head -c 65536 /dev/urandom >"$R/data/random.bin"
	printf 'hello\n' >"$R/data/hello.txt"
	printf 'nested\n' >"$R/data/sub/n.txt"
	client alice backup -q "$R/data"
	[ "$(snap_count alice)" = 1 ]
	client alice restore latest --target "$R/restore" -q
	diff -r "$R/data" "$R/restore$R/data"
	# the operator's view agrees (the cache is re-read after a refresh interval)
	[ "$(json_get "$MNT/repos/alice/stats.json" user)" = alice ]
	[ "$(json_get "$MNT/repos/alice/stats.json" suspended)" = false ]
	[ "$(json_get "$MNT/repos/alice/stats.json" usage)" -gt 65536 ]
}

@test "two concurrent adds both land (one of them by a provisioner)" {
	ctl_write "$C" "add bob"$'\n' &
	p1=$!
	as_user "$PROV" ctl_write "$C" "add dave"$'\n' &
	p2=$!
	wait "$p1"
	wait "$p2"
	grep -q '^bob:' "$HT"
	grep -q '^dave:' "$HT"
	[ -d "$ROOT/bob" ] && [ -d "$ROOT/dave" ]
	# each caller reads its own outcome, the provisioner too
	outcome=$(tail -n 1 "$C")
	[[ $outcome == "ok password="* ]]
	save_creds bob
	outcome=$(as_user "$PROV" cat "$C" | tail -n 1)
	[[ $outcome == "ok password="* ]]
	save_creds dave
	[ "$(snap_count bob)" = 0 ]
	[ "$(snap_count dave)" = 0 ]
}

@test "alice cannot read bob's repository" {
	sed 's|/alice/$|/bob/|' "$R/client/alice.repo" >"$R/client/alice-at-bob.repo"
	cp "$R/client/alice.pw" "$R/client/alice-at-bob.pw"
	run client alice-at-bob snapshots
	[ "$status" -ne 0 ]
	[[ $output == *40[13]* ]]
	# nor with bob's repository password
	cp "$R/client/bob.pw" "$R/client/alice-at-bob.pw"
	run client alice-at-bob snapshots
	[ "$status" -ne 0 ]
}

@test "alice's forget is refused by the append-only server" {
	printf 'two\n' >>"$R/data/hello.txt"
	client alice backup -q "$R/data"
	# restic retries a refused delete for a long time: watch for the 403, then stop it
	RESTIC_REPOSITORY=$(cat "$R/client/alice.repo") RESTIC_PASSWORD_FILE=$R/client/alice.pw \
		restic --no-cache forget --keep-last 1 >"$R/forget.out" 2>&1 &
	pid=$!
	wait_for 20 grep -q '403 Forbidden' "$R/forget.out"
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" || true
	grep -q 'remove 1 snapshots' "$R/forget.out"   # it did try
	[ "$(snap_count alice)" = 2 ]
}

@test "prune removes what the policy says and nothing else; forget-dry-run removes nothing" {
	for i in 3 4; do
		printf '%s\n' "$i" >>"$R/data/hello.txt"
		client alice backup -q "$R/data"
	done
	[ "$(snap_count alice)" = 4 ]
	keep=$(client alice snapshots --json | python3 -c '
import json, sys
s = sorted(json.load(sys.stdin), key=lambda x: x["time"])
print(" ".join(sorted(x["id"] for x in s[-2:])))')
	write_fails EINVAL "$MNT/repos/alice/retention" "keep-last=0"
	write_fails EINVAL "$MNT/repos/alice/retention" "keep-forever=1"
	printf 'keep-last=2\n' >"$MNT/repos/alice/retention"
	[ "$(cat "$MNT/repos/alice/retention")" = keep-last=2 ]

	ctl_ok "$MNT/repos/alice/ctl" "forget-dry-run"
	job=$(outcome_key job)
	grep -q 'remove 2 snapshots' "$MNT/jobs/$job/log"
	[ "$(snap_count alice)" = 4 ]

	ctl_ok "$MNT/repos/alice/ctl" "prune"
	job=$(outcome_key job)
	[ "$(cat "$MNT/jobs/$job/status")" = ok ]
	grep -q 'keep-last=2' "$MNT/jobs/$job/log"
	got=$(client alice snapshots --json | python3 -c '
import json, sys
print(" ".join(sorted(x["id"] for x in json.load(sys.stdin))))')
	[ "$got" = "$keep" ]
	# restic ran as root: what it wrote was handed back to the server's user
	[ -z "$(find "$ROOT/alice" ! -user "$REST_USER")" ]
	[ "$(key_of "$MNT/repos/alice/stats" snapshots)" = 2 ]
	[ "$(key_of "$MNT/repos/alice/stats" last_prune_result)" = ok ]
	[ "$(key_of "$MNT/repos/alice/stats" last_prune_job)" = "$job" ]

	ctl_ok "$MNT/repos/alice/ctl" "check wait=no"
	jobs_wait_ok "$(outcome_key job)"
	grep -q 'no errors were found' "$MNT/jobs/$(outcome_key job)/log"
	printf 'default\n' >"$MNT/repos/alice/retention"
	[ "$(cat "$MNT/repos/alice/retention")" = "keep-last=20 keep-daily=7 keep-weekly=4 keep-monthly=6" ]
}

jobs_wait_ok() {
	wait_for 60 eval "[[ \$(cat '$MNT/jobs/$1/status') != queued && \$(cat '$MNT/jobs/$1/status') != running ]]"
	[ "$(cat "$MNT/jobs/$1/status")" = ok ]
}

@test "revoke: the next backup fails with an auth error, the repository and stats stay; add again works" {
	before=$(snap_count alice)
	cp "$HT" "$R/ht.before-revoke"
	ctl_ok "$C" "revoke alice"
	refute grep -q '^alice:' "$HT"
	run client alice backup -q "$R/data"
	[ "$status" -ne 0 ]
	[[ $output == *401* || $output == *Unauthorized* ]]
	[ -d "$ROOT/alice/snapshots" ]
	[ "$(key_of "$MNT/repos/alice/stats" state)" = revoked ]
	[ "$(key_of "$MNT/repos/alice/stats" snapshots)" = "$before" ]
	ls "$MNT/repos" >"$R/listing"
	grep -qx alice "$R/listing"
	ctl_fails ENOENT "$C" "revoke alice"
	ctl_fails ENOENT "$C" "revoke nobody"

	cp "$R/client/alice.pw" "$R/client/old-alice.pw"
	cp "$R/client/alice.repo" "$R/client/old-alice.repo"
	ctl_ok "$C" "add alice"
	save_creds alice
	refute cmp -s "$R/client/alice.pw" "$R/client/old-alice.pw"
	[ "$(snap_count alice)" = "$before" ]
	client alice backup -q "$R/data"
	# the old password opens nothing: not the server, not the repository
	run client old-alice snapshots
	[ "$status" -ne 0 ]
	sed "s|alice:[0-9a-f]*@|alice:$(cat "$R/client/alice.pw")@|" "$R/client/old-alice.repo" \
		>"$R/client/mixed.repo"
	cp "$R/client/old-alice.pw" "$R/client/mixed.pw"
	run client mixed snapshots
	[ "$status" -ne 0 ]
	# the operator key and one user key
	[ "$(ls "$ROOT/alice/keys" | wc -l)" = 2 ]
	[ "$(key_of "$MNT/repos/alice/stats" state)" = active ]
}

@test "bad user names fail EINVAL and touch nothing" {
	before=$(world)
	ctl_fails EINVAL "$C" "add ../x"
	ctl_fails EINVAL "$C" 'add ""'
	ctl_fails EINVAL "$C" "add $(printf 'a%.0s' {1..300})"
	ctl_fails EINVAL "$C" "add a/b"
	ctl_fails EINVAL "$C" "add .hidden"
	ctl_fails EINVAL "$C" "add -rf"
	ctl_fails EINVAL "$C" $'add caf\xc3\xa9'
	ctl_fails EINVAL "$C" $'add \xff\xfe'
	ctl_fails EINVAL "$C" "add"
	ctl_fails EINVAL "$C" "revoke ../alice"
	[ "$(world)" = "$before" ]
}

@test "a failing restic init or key add leaves no htpasswd line and no repository" {
	before=$(world)
	touch "$R/fail-init"
	ctl_fails EIO "$C" "add erin"
	[[ $outcome == *"step 1/4 (restic init)"* ]]
	[[ $outcome == *"failed on purpose"* ]]
	rm "$R/fail-init"
	[ "$(world)" = "$before" ]

	touch "$R/fail-key"        # restic key add (and key remove) fail
	ctl_fails EIO "$C" "add frank"
	[[ $outcome == *"step 2/4 (restic key add)"* ]]
	rm "$R/fail-key"
	[ "$(world)" = "$before" ]
	[ ! -e "$ROOT/frank" ]
	run cat "$MNT/repos/frank/stats"
	[ "$status" -ne 0 ]
}

# ---- permissions ----

@test "a provisioner can add and read its outcome, and cannot list, read, prune or revoke" {
	[ "$(as_user "$PROV" ls -A "$MNT/repos")" = ctl ]
	run as_user "$PROV" cat "$MNT/repos/dave/stats"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file"* ]]
	run as_user "$PROV" ls "$MNT/repos/alice"
	[[ $output == *"No such file"* ]]
	as_user "$PROV" write_fails ENOENT "$MNT/repos/dave/ctl" $'prune\n'
	as_user "$PROV" ctl_fails EACCES "$C" "revoke dave"
	grep -q '^dave:' "$HT"
}

@test "a plain user sees only ctl and every write is EACCES" {
	[ "$(as_user "$PLAIN" ls -A "$MNT/repos")" = ctl ]
	before=$(world)
	as_user "$PLAIN" ctl_fails EACCES "$C" "add mallory"
	as_user "$PLAIN" ctl_fails EACCES "$C" "revoke alice"
	run as_user "$PLAIN" cat "$MNT/repos/alice/quota"
	[ "$status" -ne 0 ]
	[ "$(world)" = "$before" ]
}

# ---- quota ----

@test "a quota below usage suspends alice, raising it restores her line byte for byte" {
	line=$(grep '^alice:' "$HT")
	usage=$(key_of "$MNT/repos/alice/stats" usage)
	write_fails EINVAL "$MNT/repos/alice/quota" "lots"
	write_fails EINVAL "$MNT/repos/alice/quota" "-5"
	printf '10K\n' >"$MNT/repos/alice/quota"
	[ "$(cat "$MNT/repos/alice/quota")" = 10240 ]
	[ "$(key_of "$MNT/repos/alice/stats" suspended)" = yes ]
	[ "$(key_of "$MNT/repos/alice/stats" state)" = suspended ]
	refute grep -q '^alice:' "$HT"
	grep -q '^bob:' "$HT"
	run client alice backup -q "$R/data"
	[ "$status" -ne 0 ]
	[[ $output == *401* || $output == *Unauthorized* ]]
	foreign_intact
	# a quota still below usage keeps her suspended
	printf '%s\n' $((usage / 2)) >"$MNT/repos/alice/quota"
	[ "$(key_of "$MNT/repos/alice/stats" suspended)" = yes ]
	printf '1G\n' >"$MNT/repos/alice/quota"
	[ "$(cat "$MNT/repos/alice/quota")" = 1073741824 ]
	[ "$(key_of "$MNT/repos/alice/stats" suspended)" = no ]
	[ "$(grep '^alice:' "$HT")" = "$line" ]
	client alice backup -q "$R/data"
	printf 'max\n' >"$MNT/repos/alice/quota"
	[ "$(cat "$MNT/repos/alice/quota")" = max ]
}

@test "the periodic scan suspends a repository that grew over its quota" {
	usage=$(key_of "$MNT/repos/bob/stats" usage)
	printf '%s\n' $((usage + 4096)) >"$MNT/repos/bob/quota"
	[ "$(key_of "$MNT/repos/bob/stats" suspended)" = no ]
	head -c 20000 /dev/urandom >"$R/data/more.bin"
	client bob backup -q "$R/data" || true   # the scan may cut it short
	# quota_scan is 1s in this file's mount
	wait_for 10 refute grep -q '^bob:' "$HT"
	[ "$(key_of "$MNT/repos/bob/stats" suspended)" = yes ]
	printf 'max\n' >"$MNT/repos/bob/quota"
	grep -q '^bob:' "$HT"
}

# ---- the client side ----

@test "the launcher hooks push the scope on exit and pull it back on launch" {
	L=$CFS_ROOT/examples/restic-launcher
	export HOME=$R/home CLOUDFS_BACKUP_DIR=$R/launcher
	mkdir -p "$HOME/app/cache" "$CLOUDFS_BACKUP_DIR"
	cp "$R/client/alice.pw" "$CLOUDFS_BACKUP_DIR/password"
	printf 'RESTIC_REPOSITORY=%s\n' "$(cat "$R/client/alice.repo")" >"$CLOUDFS_BACKUP_DIR/env"
	printf '# test scope\ninclude app\ninclude missing\nexclude *.tmp\nexclude app/cache\n' \
		>"$CLOUDFS_BACKUP_DIR/scope"
	run "$L/pre"
	[ "$status" -eq 0 ]
	[[ $output == *"nothing to pull"* ]]
	echo v1 >"$HOME/app/doc"
	echo junk >"$HOME/app/x.tmp"
	echo junk >"$HOME/app/cache/c"
	"$L/post"
	echo v2 >"$HOME/app/doc"
	echo mine >"$HOME/app/local-only"
	"$L/pre"
	[ "$(cat "$HOME/app/doc")" = v1 ]
	[ "$(cat "$HOME/app/local-only")" = mine ]
	run client alice ls latest --tag cloudfs-launcher
	[[ $output == *"$HOME/app/doc"* ]]
	[[ $output != *x.tmp* && $output != *cache/c* ]]
}
