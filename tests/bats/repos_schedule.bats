#!/usr/bin/env bats
# /repos: the nightly prune at [repos] prune_at (UTC), one repository at a
# time, and a run missed while unmounted caught up once at the next start.
#
# The scheduler's clock is shifted with CLOUDFS_TEST_REPOS_CLOCK_OFFSET so
# the next slot is seconds away instead of hours.  No REST server is needed:
# the operator prunes on disk.

load ../lib/common

setup() {
	[[ $(id -u) -eq 0 ]] || skip "needs root"
	command -v restic >/dev/null || skip "restic not installed"
	CFS_TMP=$(cfs_tmpdir)
	ROOT=$CFS_TMP/root
	OPTS=(-o "repos.root=$ROOT,repos.prune_at=04:00,repos.quota_scan=1h")
}

teardown() {
	unset CLOUDFS_TEST_REPOS_CLOCK_OFFSET
	cfs_teardown
}

# restic on USER's repository with the operator key
operator() {
	local user=$1; shift
	RESTIC_PASSWORD_FILE=$STATE/operator.password restic --no-cache -r "$ROOT/$user" "$@"
}

count() {
	operator "$1" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# remount with the scheduler's clock at epoch second $1
remount_at() {
	export CLOUDFS_TEST_REPOS_CLOCK_OFFSET=$(($1 - $(date +%s)))
	cfs_remount "${OPTS[@]}"
}

prune_job() {
	key_of "$MNT/repos/$1/stats" last_prune_job
}

@test "the nightly prune fires for every repository, one at a time; a missed run catches up once" {
	cfs_mount "${OPTS[@]}"
	ctl_write "$MNT/repos/ctl" "add alice"$'\n' &
	ctl_write "$MNT/repos/ctl" "add bob"$'\n'
	wait $!
	[ "$(ls "$MNT/repos" | tr '\n' ' ')" = "alice bob ctl " ]
	mkdir -p "$CFS_TMP/data"
	for i in 1 2; do
		echo "$i" >"$CFS_TMP/data/f"
		operator alice backup -q "$CFS_TMP/data"
	done
	printf 'keep-last=1\n' >"$MNT/repos/alice/retention"
	[ "$(prune_job alice)" = 0 ]

	# the next 04:00 UTC, three seconds ahead
	now=$(date +%s)
	slot=$((now / 86400 * 86400 + 4 * 3600))
	((slot > now)) || slot=$((slot + 86400))
	remount_at $((slot - 3))
	[ "$(prune_job alice)" = 0 ]      # not yet
	# (polling the mount's log on disk rather than the mount)
	wait_for 40 grep -q 'nightly prune pass of .* done (2 repositories)' "$CFS_LOG"
	[ "$(key_of "$MNT/repos/alice/stats" last_prune_result)" = ok ]
	[ "$(key_of "$MNT/repos/bob/stats" last_prune_result)" = ok ]
	[ "$(count alice)" = 1 ]
	ja=$(prune_job alice)
	jb=$(prune_job bob)
	[ "$(cat "$MNT/jobs/$ja/cmd")" = "repos/alice: prune (scheduled)" ]
	[ "$(cat "$MNT/jobs/$jb/cmd")" = "repos/bob: prune (scheduled)" ]
	# one at a time: bob's started after alice's finished
	a_end=$(json_get "$MNT/jobs/$ja/job.json" finished)
	b_start=$(json_get "$MNT/jobs/$jb/job.json" started)
	[[ $b_start > $a_end || $b_start == "$a_end" ]]
	grep -q 'nightly prune pass of .*: 2 repositories' "$CFS_LOG"

	# the next day's slot passes while the mount is down: caught up at start
	cfs_umount
	echo 3 >"$CFS_TMP/data/f"
	operator alice backup -q "$CFS_TMP/data"
	remount_at $((slot + 86400 + 600))
	wait_for 40 eval '[ "$(grep -c "nightly prune pass of .* done" "$CFS_LOG")" = 2 ]'
	grep -q 'missed while unmounted' "$CFS_LOG"
	[ "$(prune_job alice)" != "$ja" ]
	[ "$(prune_job bob)" != "$jb" ]
	[ "$(key_of "$MNT/repos/bob/stats" last_prune_result)" = ok ]
	[ "$(count alice)" = 1 ]

	# once: a start later the same day runs nothing
	ja=$(prune_job alice)
	remount_at $((slot + 86400 + 900))
	sleep 2
	[ "$(prune_job alice)" = "$ja" ]
	[ "$(grep -c 'nightly prune pass of .* repositories$' "$CFS_LOG")" = 2 ]
}

@test "the first start counts the last slot as done" {
	# a new state dir whose clock is just past a slot: nothing was missed
	now=$(date +%s)
	export CLOUDFS_TEST_REPOS_CLOCK_OFFSET=$((now / 86400 * 86400 + 4 * 3600 + 60 - now))
	cfs_mount "${OPTS[@]}"
	sleep 2
	run grep -c 'nightly prune pass of' "$CFS_LOG"
	[ "$output" = 0 ]
	grep -q 'scheduler clock shifted' "$CFS_LOG"
}
