#!/usr/bin/env bats
# The mount's life: unmount leaves no process behind, SIGTERM unmounts
# cleanly, a second mount on the same state dir is refused, and the state
# (env_id, instances, shares, jobs) persists across remounts.

load ../lib/common

setup_file() {
	cfs_users_create
}

setup() {
	cfs_mount
}

teardown() {
	cfs_teardown
}

@test "unmount leaves no process and no mount behind" {
	pid=$CFS_PID
	state=$STATE
	cat "$MNT/README" >/dev/null
	ctl_ok "$MNT/self/ctl" "check"
	cfs_umount
	refute _pid_alive "$pid"
	refute _is_mounted "$MNT"
	refute pgrep -f -- "state=$state"
	[ -z "$(ls -A "$MNT")" ]
}

@test "unmount while a reader waits on /events and a job runs" {
	ctl_ok "$MNT/self/ctl" "check delay=2s wait=no"
	cfs_bg cat "$MNT/events" >/dev/null
	reader=$CFS_BG_LAST
	sleep 0.3
	kill "$reader"
	wait "$reader" 2>/dev/null || true
	pid=$CFS_PID
	cfs_umount
	refute _pid_alive "$pid"
}

@test "SIGTERM to the mount unmounts cleanly" {
	pid=$CFS_PID
	ctl_ok "$MNT/instances/ctl" "add web1 http://127.0.0.1:9"
	kill -TERM "$pid"
	wait_for 10 eval "! _pid_alive $pid" || { echo "cloudfs did not exit on SIGTERM"; false; }
	st=0
	wait "$pid" 2>/dev/null || st=$?
	# 127: not a child of this shell, so no status to check
	[ "$st" -eq 0 ] || [ "$st" -eq 127 ] || { CFS_PID=; echo "cloudfs exited with status $st on SIGTERM (a clean stop should exit 0)"; false; }
	refute _is_mounted "$MNT"
	cfs_scan_log
	grep -qi unmount "$CFS_LOG"
	CFS_PID=
	# and the state is intact
	cfs_mount
	[ -d "$MNT/instances/web1" ]
}

@test "a second mount on the same state dir is refused with a clear error" {
	mnt2=$CFS_TMP/mnt2
	mkdir -p "$mnt2"
	log2=$CFS_TMP/second.log
	run timeout 10 "$CLOUDFS" "$mnt2" -f -o "state=$STATE"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ] || { echo "the second mount did not give up"; false; }
	[[ $output == *"$STATE"* ]] || { echo "the error does not name the state dir: $output"; false; }
	[[ $output == *"in use"* || $output == *"already"* || $output == *"locked"* ]] ||
		{ echo "unclear error: $output"; false; }
	refute _is_mounted "$mnt2"
	# the first mount is unharmed
	ctl_ok "$MNT/instances/ctl" "add web1 http://127.0.0.1:9"
	[ -d "$MNT/instances/web1" ]
}

@test "a second mount on the same state dir is refused in the background too" {
	mnt2=$CFS_TMP/mnt2
	mkdir -p "$mnt2"
	run timeout 10 "$CLOUDFS" "$mnt2" -o "state=$STATE"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ $output == *"$STATE"* ]]
	refute _is_mounted "$mnt2"
	refute eval "pgrep -f -- '$mnt2' >/dev/null"
}

@test "a mount on a fresh state dir makes the master key 0600 and a new env_id" {
	[ -n "$(ls -A "$STATE")" ]
	key=$(find "$STATE" -maxdepth 1 -name '*key*' -type f | head -n1)
	[ -n "$key" ] || { echo "no key file in the state dir: $(ls "$STATE")"; false; }
	[ "$(stat -c %a "$key")" = 600 ]
	[ "$(stat -c %s "$key")" -eq 32 ]
	env1=$(cat "$MNT/self/env_id")
	# a different state dir is a different node
	other=$(cfs_tmpdir)
	CFS_EXTRA_DIRS+=("$other")
	cfs_mount_other "$other"
	env2=$(cat "$other/mnt/self/env_id")
	cfs_umount_other "$other"
	is_uuid "$env2"
	[ "$env1" != "$env2" ]
}

@test "the state is one SQLite database in WAL mode" {
	command -v sqlite3 >/dev/null || skip "needs the sqlite3 shell"
	ctl_ok "$MNT/instances/ctl" "add web1 http://127.0.0.1:9"
	dbs=("$STATE"/*.db)
	[ "${#dbs[@]}" -eq 1 ]
	[ "$(sqlite3 "${dbs[0]}" 'PRAGMA journal_mode')" = wal ]
	[ "$(sqlite3 "${dbs[0]}" 'PRAGMA integrity_check')" = ok ]
}

@test "/self/env_id is stable across remounts" {
	env1=$(cat "$MNT/self/env_id")
	is_uuid "$env1"
	cfs_remount
	[ "$(cat "$MNT/self/env_id")" = "$env1" ]
	cfs_remount
	[ "$(cat "$MNT/self/env_id")" = "$env1" ]
}

@test "the state persists across remount: instances, shares, jobs" {
	ctl_ok "$MNT/instances/ctl" "add web1 http://127.0.0.1:9"
	ctl_ok "$MNT/instances/ctl" "add web2 https://127.0.0.1:9 tls=require"
	ctl_ok "$MNT/shares/ctl" "add $BOB instance=web1 perms=read expires=2099-01-01T00:00:00Z note=\"on call\""
	share=$(outcome_key id)
	ctl_ok "$MNT/shares/ctl" "add $CAROL"
	off=$(outcome_key id)
	ctl_ok "$MNT/shares/ctl" "disable $off"
	ctl_ok "$MNT/self/ctl" "check"
	job=$(outcome_key job)
	before=$(tree_state)

	cfs_remount

	[ -d "$MNT/instances/web1" ]
	[ -d "$MNT/instances/web2" ]
	[ "$(cat "$MNT/instances/web1/owner")" = "$(id -un)" ]
	[ "$(json_get "$MNT/instances/web2/status.json" tls_require)" = true ]
	[ "$(cat "$MNT/shares/$share/sharee")" = "$BOB" ]
	[ "$(cat "$MNT/shares/$share/note")" = "on call" ]
	[ "$(cat "$MNT/shares/$share/perms")" = read ]
	[ "$(cat "$MNT/shares/$share/expires")" = 2099-01-01T00:00:00Z ]
	[ "$(cat "$MNT/shares/$off/enabled")" = no ]
	[ "$(cat "$MNT/jobs/$job/status")" = ok ]
	[[ $(cat "$MNT/jobs/$job/cmd") == check* ]]
	[ -n "$(cat "$MNT/jobs/$job/log")" ]
	after=$(tree_state)
	[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after"); false; }
	# new job ids do not reuse old ones
	ctl_ok "$MNT/self/ctl" "check"
	[ "$(outcome_key job)" -gt "$job" ]
	# and the state is still consistent
	[ "$(cat "$MNT/jobs/$(outcome_key job)/status")" = ok ]
}

@test "a share keeps granting after a remount, and a minted secret is not shown again" {
	cfs_need_root
	as_user "$ALICE" ctl_ok "$MNT/instances/ctl" "add app http://127.0.0.1:9"
	[[ $outcome =~ secret=[0-9a-f]{64} ]]
	as_user "$ALICE" ctl_ok "$MNT/shares/ctl" "add $BOB instance=app"
	cfs_remount
	as_user "$BOB" ls "$MNT/instances" | grep -qx app
	run as_user "$ALICE" cat "$MNT/instances/ctl"
	refute grep -qE '[0-9a-f]{64}' <<<"$output"
	refute grep -rqE '[0-9a-f]{64}' "$MNT/instances/app"
}

@test "the mount answers --help and --version" {
	run "$CLOUDFS" --help
	[ "$status" -eq 0 ]
	[[ $output == *MOUNTPOINT* ]]
	[[ $output == *state=* ]]
	run "$CLOUDFS" --version
	[ "$status" -eq 0 ]
	[[ $output == *cloudfs* ]]
}

@test "a bad option or a missing mount point is refused with a message" {
	run timeout 10 "$CLOUDFS"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[ -n "$output" ]
	mkdir -p "$CFS_TMP/mnt3"
	run timeout 10 "$CLOUDFS" "$CFS_TMP/mnt3" -f -o "state=$CFS_TMP/state3,nosuch.key=1"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ $output == *nosuch* ]]
}
