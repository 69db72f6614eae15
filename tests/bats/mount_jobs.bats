#!/usr/bin/env bats
# Jobs (DESIGN.md sections 2 and 3): /self/ctl check is the first real job;
# blocking writes, wait=no, Ctrl-C detaching and cancel are tried on it.

load ../lib/common

setup_file() {
	cfs_users_create
}

setup() {
	cfs_mount
	C=$MNT/self/ctl
}

teardown() {
	cfs_teardown
}

# The newest job's id as the caller sees /jobs.
newest_job() {
	_cfs_run ls "$MNT/jobs" | grep -E '^[0-9]+$' | sort -n | tail -n1
}

# job_status ID — its status file
job_status() {
	_cfs_run cat "$MNT/jobs/$1/status"
}

status_is() {
	[ "$(job_status "$1")" = "$2" ]
}

# interrupt_write SIG DELAY FILE CMD — write CMD from a process that gets SIG
# after DELAY seconds (the way Ctrl-C reaches a shell's echo); prints the
# write's errno text (or "ok") and the seconds it took
interrupt_write() {
	perl -e '
		use Time::HiRes qw(time);
		my ($sig, $delay, $file, $cmd) = @ARGV;
		$SIG{$sig} = sub { };      # a handler, so the write returns EINTR
		open(my $fh, ">>", $file) or die "open: $!\n";
		my $pid = fork();
		if ($pid == 0) {
			select(undef, undef, undef, $delay);
			kill $sig, getppid();
			exit 0;
		}
		my $t0 = time;
		my $r = syswrite($fh, "$cmd\n");
		my $err = defined $r ? "ok" : "$!";
		printf "%s|%.2f\n", $err, time - $t0;
		waitpid($pid, 0);
	' "$@"
}

@test "/jobs is empty on a fresh mount" {
	[ "$(ls -A "$MNT/jobs")" = "" ]
}

@test "check blocks until the job has finished, and its files tell the story" {
	ctl_ok "$C" "check"
	id=$(outcome_key job)
	[[ $id =~ ^[0-9]+$ ]]
	# the write returned after the job ended: no waiting needed
	[ "$(cat "$MNT/jobs/$id/status")" = ok ]
	run ls "$MNT/jobs/$id"
	for f in cmd status progress log job.json ctl; do
		[[ " $(echo $output) " == *" $f "* ]] || { echo "no jobs/$id/$f"; false; }
	done
	[[ $(cat "$MNT/jobs/$id/cmd") == check* ]]
	[ -n "$(cat "$MNT/jobs/$id/progress")" ]
	[ -n "$(cat "$MNT/jobs/$id/log")" ]
	[ "$(json_get "$MNT/jobs/$id/job.json" status)" = ok ]
	[ "$(json_get "$MNT/jobs/$id/job.json" id)" = "$id" ]
	[[ $(json_get "$MNT/jobs/$id/job.json" cmd) == check* ]]
	[ "$(json_get "$MNT/jobs/$id/job.json" finished)" != null ]
	[ "$(newest_job)" = "$id" ]
}

@test "check over real state finds it consistent" {
	ctl_ok "$MNT/instances/ctl" "add web1 http://127.0.0.1:9"
	ctl_ok "$MNT/shares/ctl" "add $BOB instance=web1"
	id=$(outcome_key id)
	ctl_ok "$MNT/shares/ctl" "disable $id"
	ctl_ok "$MNT/instances/ctl" "add web2 http://127.0.0.1:9"
	ctl_ok "$MNT/instances/ctl" "remove web2"
	ctl_ok "$C" "check"
	job=$(outcome_key job)
	[ "$(cat "$MNT/jobs/$job/status")" = ok ]
}

@test "a check that finds a problem fails the write, and the job says why" {
	command -v sqlite3 >/dev/null || skip "needs the sqlite3 shell"
	db=$(ls "$STATE"/*.db | head -n1)
	# a journal op for an instance that is not in the registry
	sqlite3 "$db" "INSERT INTO journal(entity, kind, op, author, time, payload) VALUES ('00000000-0000-4000-8000-00000000dead', 'instance', 'create', 'test', 0, '{}')" ||
		skip "the journal's schema is not the one this test knows"
	write_fails EIO "$C" $'check\n'
	outcome=$(tail -n1 "$C")
	[[ $outcome == "error EIO:"* ]]
	id=$(newest_job)
	[ "$(job_status "$id")" = error ]
	grep -q 00000000-0000-4000-8000-00000000dead "$MNT/jobs/$id/log"
	[ "$(json_get "$MNT/jobs/$id/job.json" error)" != null ]
	# the failure is in /self/errors too
	grep -F /self/ctl "$MNT/self/errors" | grep -q EIO
}

@test "a blocking check with a delay takes that long" {
	start=$SECONDS
	ctl_ok "$C" "check delay=2s"
	[ $((SECONDS - start)) -ge 1 ]
	id=$(outcome_key job)
	[ "$(cat "$MNT/jobs/$id/status")" = ok ]
}

@test "check wait=no returns at once with job=ID" {
	start=$(date +%s%N)
	ctl_ok "$C" "check delay=3s wait=no"
	took_ms=$((($(date +%s%N) - start) / 1000000))
	[ "$took_ms" -lt 1500 ] || { echo "wait=no took $took_ms ms"; false; }
	id=$(outcome_key job)
	[[ $id =~ ^[0-9]+$ ]]
	[[ $(job_status "$id") =~ ^(queued|running)$ ]]
	[[ $(json_get "$MNT/jobs/$id/job.json" status) =~ ^(queued|running)$ ]]
	wait_for 10 status_is "$id" ok
	[ "$(json_get "$MNT/jobs/$id/job.json" status)" = ok ]
}

@test "a running job reports progress" {
	ctl_ok "$C" "check delay=3s wait=no"
	id=$(outcome_key job)
	wait_for 3 status_is "$id" running
	[ -n "$(cat "$MNT/jobs/$id/progress")" ]
	wait_for 10 status_is "$id" ok
}

@test "Ctrl-C on a blocking check returns early and the job still finishes ok" {
	command -v perl >/dev/null || skip "needs perl"
	IFS='|' read -r err took < <(interrupt_write INT 0.7 "$C" "check delay=3s")
	[ "$err" != ok ] || { echo "the write was not interrupted"; false; }
	[ "$err" = "$(errno_text EINTR)" ] || echo "# interrupted write failed with: $err" >&3
	awk -v t="$took" 'BEGIN { exit !(t < 2.5) }' || { echo "the write took $took s"; false; }
	id=$(newest_job)
	[ -n "$id" ]
	[[ $(job_status "$id") =~ ^(queued|running)$ ]]
	wait_for 10 status_is "$id" ok
	# the ctl read names the job
	grep -q "$id" "$C"
}

@test "cancel on a delayed job gives status cancelled" {
	ctl_ok "$C" "check delay=5s wait=no"
	id=$(outcome_key job)
	run cat "$MNT/jobs/$id/ctl"
	grep -q '^cancel' <<<"$output"
	ctl_ok "$MNT/jobs/$id/ctl" "cancel"
	wait_for 3 status_is "$id" cancelled
	[ "$(json_get "$MNT/jobs/$id/job.json" status)" = cancelled ]
}

@test "a blocking write fails when its job is cancelled" {
	out=$CFS_TMP/blocked.out
	cfs_bg bash -c 'if echo "check delay=5s" > "$1" 2>"$2.err"; then echo ok >"$2"; else echo failed >"$2"; fi' _ "$C" "$out"
	wait_for 3 eval '[ -n "$(newest_job)" ]'
	id=$(newest_job)
	ctl_ok "$MNT/jobs/$id/ctl" "cancel"
	wait_for 3 eval "[ -s '$out' ]"
	[ "$(cat "$out")" = failed ]
	[ "$(job_status "$id")" = cancelled ]
}

@test "cancel of a finished job fails and changes nothing" {
	ctl_ok "$C" "check"
	id=$(outcome_key job)
	run ctl_write "$MNT/jobs/$id/ctl" $'cancel\n'
	[ "$status" -ne 0 ]
	[[ $(tail -n1 "$MNT/jobs/$id/ctl") == error* ]]
	[ "$(job_status "$id")" = ok ]
}

@test "bad input on a job's ctl" {
	ctl_ok "$C" "check"
	id=$(outcome_key job)
	ctl_fails EINVAL "$MNT/jobs/$id/ctl" "stop"
	ctl_fails EINVAL "$MNT/jobs/$id/ctl" "cancel now"
}

@test "an unknown job looks up as ENOENT" {
	run cat "$MNT/jobs/999/status"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
	run ls "$MNT/jobs/abc"
	[ "$status" -ne 0 ]
}

@test "job ids grow" {
	ctl_ok "$C" "check"
	a=$(outcome_key job)
	ctl_ok "$C" "check"
	b=$(outcome_key job)
	[ "$b" -gt "$a" ]
	[ "$(ls "$MNT/jobs" | wc -l)" -eq 2 ]
}

@test "a user does not see another user's jobs; check is for superadmins" {
	cfs_need_root
	ctl_ok "$C" "check"
	id=$(outcome_key job)
	run as_user "$ALICE" ls -A "$MNT/jobs"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run as_user "$ALICE" cat "$MNT/jobs/$id/status"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
	as_user "$ALICE" ctl_fails EACCES "$C" "check"
	# nor cancel it
	ctl_ok "$C" "check delay=3s wait=no"
	id=$(outcome_key job)
	as_user "$ALICE" write_fails ENOENT "$MNT/jobs/$id/ctl" $'cancel\n'
	wait_for 10 status_is "$id" ok
}

@test "a finished job is announced on /events" {
	ev=$CFS_TMP/events.out
	cfs_bg cat "$MNT/events" >"$ev"
	sleep 0.3
	ctl_ok "$C" "check"
	id=$(outcome_key job)
	wait_for 5 grep -q '"job.finished"' "$ev"
	line=$(grep '"job.finished"' "$ev" | head -n1)
	"$CFS_PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["type"]=="job.finished"; assert str(d["id"])==sys.argv[2], d; assert d["time"]' "$line" "$id"
}
