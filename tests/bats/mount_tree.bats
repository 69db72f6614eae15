#!/usr/bin/env bats
# The root tree of DESIGN.md section 2: every file and directory exists and
# reads; /README documents the tree and every ctl verb; /self; /metrics;
# the ctl files of capabilities not built yet.

load ../lib/common

setup() {
	cfs_mount
}

teardown() {
	cfs_teardown
}

@test "the root holds exactly the v1 tree" {
	run ls -A "$MNT"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | LC_ALL=C sort | tr '\n' ' ')" = "README events instances jobs metrics mirrors peers repos self shares " ]
	for d in self jobs instances shares mirrors peers repos; do
		[ -d "$MNT/$d" ]
	done
	for f in README events metrics; do
		[ -f "$MNT/$f" ]
	done
}

@test "every file under the root reads" {
	for f in README metrics self/env_id self/whoami self/errors self/ctl \
		instances/ctl shares/ctl mirrors/ctl peers/ctl repos/ctl; do
		[ -f "$MNT/$f" ] || { echo "missing $f"; false; }
		cat "$MNT/$f" >/dev/null || { echo "cannot read $f"; false; }
	done
	for d in self jobs instances shares mirrors peers repos; do
		ls "$MNT/$d" >/dev/null || { echo "cannot list $d"; false; }
	done
	# ctl files are writable, state files are not
	[ "$(stat -c %a "$MNT/shares/ctl")" = 666 ]
	[ "$(stat -c %a "$MNT/self/env_id")" = 444 ]
	[ "$(stat -c %a "$MNT/instances")" = 555 ]
}

@test "/events exists and blocks when nothing happens" {
	run timeout 1 cat "$MNT/events"
	[ "$status" -eq 124 ]
	[ -z "$output" ]
	# a non-blocking read says "try again"
	run dd if="$MNT/events" iflag=nonblock bs=4k count=1 status=none
	[ "$status" -ne 0 ]
	[[ $output == *"$(errno_text EAGAIN)"* ]]
}

@test "/self holds env_id, whoami, errors and ctl" {
	run ls "$MNT/self"
	for f in env_id whoami errors ctl; do
		[[ " $(echo $output) " == *" $f "* ]] || { echo "no /self/$f in: $output"; false; }
	done
}

@test "/self/env_id is a UUID" {
	run cat "$MNT/self/env_id"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	is_uuid "${lines[0]}"
}

@test "/self/whoami names root as a superadmin, as text and JSON" {
	[ "$(key_of "$MNT/self/whoami" user)" = "$(id -un)" ]
	[ "$(key_of "$MNT/self/whoami" uid)" = "$(id -u)" ]
	if [ "$(id -u)" -eq 0 ]; then
		[[ $(key_of "$MNT/self/whoami" roles) == *superadmin* ]]
		[ "$(json_get "$MNT/self/whoami.json" roles.0)" = superadmin ]
	fi
	[ "$(json_get "$MNT/self/whoami.json" user)" = "$(id -un)" ]
	[ "$(json_get "$MNT/self/whoami.json" uid)" = "$(id -u)" ]
}

@test "/self/whoami answers for the caller" {
	cfs_need_root
	cfs_users_create
	run as_user "$ALICE" cat "$MNT/self/whoami"
	[ "$status" -eq 0 ]
	[ "$(as_user "$ALICE" key_of "$MNT/self/whoami" user)" = "$ALICE" ]
	[ "$(as_user "$ALICE" key_of "$MNT/self/whoami" uid)" = "$(id -u "$ALICE")" ]
	[[ $(as_user "$ALICE" key_of "$MNT/self/whoami" roles) != *superadmin* ]]
	[ "$(as_user "$ALICE" json_get "$MNT/self/whoami.json" user)" = "$ALICE" ]
	[ "$(as_user "$ALICE" json_get "$MNT/self/whoami.json" uid)" = "$(id -u "$ALICE")" ]
	run as_user "$ALICE" json_get "$MNT/self/whoami.json" roles
	[[ $output != *superadmin* ]]
}

@test "/README lists the tree" {
	run cat "$MNT/README"
	[ "$status" -eq 0 ]
	for p in /README /self/env_id /self/whoami /self/errors /self/ctl /events /metrics \
		/jobs/ID/ /jobs/ID/cmd /jobs/ID/status /jobs/ID/progress /jobs/ID/log /jobs/ID/job.json /jobs/ID/ctl \
		/instances/ctl /instances/NAME/ /instances/NAME/status /instances/NAME/owner /instances/NAME/ctl \
		/shares/ctl /shares/ID/ /shares/ID/sharer /shares/ID/sharee /shares/ID/instance /shares/ID/perms \
		/shares/ID/expires /shares/ID/enabled /shares/ID/note /shares/ID/created /shares/ID/share.json \
		/mirrors/ctl /peers/ctl /repos/ctl; do
		grep -qF -- "$p" <<<"$output" || { echo "README does not mention $p"; false; }
	done
}

@test "/README lists every ctl verb, as each ctl file's usage says it" {
	readme=$(cat "$MNT/README")
	for verb in label check cancel add remove refresh revoke enable disable sync; do
		grep -qE "^ +$verb( |$)" <<<"$readme" || { echo "README lacks the verb $verb"; false; }
	done
	# every usage line of every ctl file (a fresh file shows usage only)
	for f in self/ctl instances/ctl shares/ctl mirrors/ctl peers/ctl repos/ctl; do
		usage=$(cat "$MNT/$f")
		[ -n "$usage" ]
		while IFS= read -r line; do
			[ -n "$line" ] || continue
			grep -qF -- "$line" <<<"$readme" || { echo "README lacks '$line' of $f"; false; }
		done <<<"$usage"
	done
}

@test "a ctl file reads its usage before any command" {
	run cat "$MNT/shares/ctl"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == add* ]]
	for v in add revoke enable disable; do
		grep -qE "^$v " <<<"$output"
	done
	run cat "$MNT/instances/ctl"
	for v in "add NAME URL" "remove NAME" refresh; do
		grep -qF "$v" <<<"$output"
	done
	run cat "$MNT/self/ctl"
	grep -q '^label NAME' <<<"$output"
	grep -q '^check' <<<"$output"
	# no outcome yet
	refute grep -qE '^(ok|error)( |$)' <<<"$output"
}

@test "/metrics is Prometheus text with FUSE ops, jobs and instances" {
	cat "$MNT/self/env_id" >/dev/null
	run cat "$MNT/metrics"
	[ "$status" -eq 0 ]
	# every sample line: a cloudfs_ name, optional labels, a number
	while IFS= read -r line; do
		[[ -z $line || $line == "#"* ]] && continue
		[[ $line =~ ^cloudfs_[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})?\ [0-9.eE+-]+$ ]] ||
			{ echo "bad metrics line: $line"; false; }
	done <<<"$output"
	reads=$(grep -E '^cloudfs_fuse_ops_total\{op="read"\} ' <<<"$output" | awk '{print $2}')
	[ -n "$reads" ] && [ "$reads" -gt 0 ]
	for s in queued running ok error cancelled; do
		grep -qE "^cloudfs_jobs\{status=\"$s\"\} 0$" <<<"$output" || { echo "no jobs{status=$s} 0"; false; }
	done
	grep -qE '^cloudfs_instances\{status="[a-z]+"\} ' <<<"$output"
	grep -q '^# TYPE cloudfs_fuse_ops_total counter' <<<"$output"
}

@test "/metrics counts instances and jobs by status" {
	ctl_ok "$MNT/instances/ctl" "add m1 http://127.0.0.1:9:8080"
	ctl_ok "$MNT/instances/ctl" "add m2 http://127.0.0.1:9:8080"
	ctl_ok "$MNT/self/ctl" "check"
	run cat "$MNT/metrics"
	# no agent answers: each is unknown, or offline once a poll was refused
	unk=$(grep -F 'cloudfs_instances{status="unknown"}' <<<"$output" | awk '{print $2}')
	off=$(grep -F 'cloudfs_instances{status="offline"}' <<<"$output" | awk '{print $2}')
	[ $((unk + off)) -eq 2 ]
	grep -qx 'cloudfs_jobs{status="ok"} 1' <<<"$output"
	r1=$(grep -F 'cloudfs_fuse_ops_total{op="read"}' <<<"$output" | awk '{print $2}')
	cat "$MNT/README" >/dev/null
	r2=$(grep -F 'cloudfs_fuse_ops_total{op="read"}' "$MNT/metrics" | awk '{print $2}')
	[ "$r2" -gt "$r1" ]
}

# A capability that comes in a later issue answers every command with ENOSYS
# until it is built.  The probe is a command that is harmless when it is
# built (removing a name that does not exist).
not_built() {
	local probe
	case $1 in
	mirrors) probe="remove cfs-no-such-mirror" ;;
	peers) probe="remove cfs-no-such-peer" ;;
	repos) probe="revoke cfstest_nosuchuser" ;;
	esac
	run ctl_write "$MNT/$1/ctl" "$probe"$'\n'
	[[ $status -ne 0 && $output == *"$(errno_text ENOSYS)"* ]]
}

@test "mirrors, peers and repos exist; those not built yet are empty and list only ctl" {
	for d in mirrors peers repos; do
		[ -d "$MNT/$d" ]
		[ -f "$MNT/$d/ctl" ]
		not_built "$d" || continue
		run ls -A "$MNT/$d"
		[ "$status" -eq 0 ]
		[ "$output" = ctl ] || { echo "/$d holds: $output"; false; }
	done
}

@test "the ctl files of mirrors, peers and repos read their usage" {
	grep -q '^add NAME SRC:PATH DST:PATH' "$MNT/mirrors/ctl"
	grep -q '^remove NAME' "$MNT/mirrors/ctl"
	grep -q '^sync SRC:PATH DST:PATH' "$MNT/mirrors/ctl"
	grep -q '^add LABEL ENV_ID URL' "$MNT/peers/ctl"
	grep -q '^remove LABEL' "$MNT/peers/ctl"
	grep -q '^add USER' "$MNT/repos/ctl"
	grep -q '^revoke USER' "$MNT/repos/ctl"
}

@test "every command of a capability not built yet fails ENOSYS with a message" {
	declare -A cmds=(
		[mirrors]="add web web1:www web2:www|remove web|sync web1:www web2:www"
		[peers]="add edge 1b4e28ba-2fa1-11d2-883f-0016d3cca427 https://edge.example:8443|remove edge"
		[repos]="add $ALICE|revoke $ALICE"
	)
	tried=0
	for d in mirrors peers repos; do
		not_built "$d" || continue
		tried=$((tried + 1))
		IFS='|' read -ra list <<<"${cmds[$d]}"
		for cmd in "${list[@]}"; do
			ctl_fails ENOSYS "$MNT/$d/ctl" "$cmd"
			[[ $outcome == *"not built"* ]] || { echo "no clear message: $outcome"; false; }
		done
		[ "$(ls -A "$MNT/$d")" = ctl ]
	done
	[ "$tried" -gt 0 ] || skip "mirrors, peers and repos are all built"
}

@test "a capability not built yet answers ENOSYS to any command, even a malformed one" {
	# issue 2: "any command fails with ENOSYS and a clear message until then"
	tried=0
	for d in mirrors peers repos; do
		not_built "$d" || continue
		tried=$((tried + 1))
		ctl_fails ENOSYS "$MNT/$d/ctl" "frobnicate"
		ctl_fails ENOSYS "$MNT/$d/ctl" "add"
		ctl_fails ENOSYS "$MNT/$d/ctl" "add x bogus=1 \"unterminated"
		# an empty write still does nothing, successfully
		ctl_write "$MNT/$d/ctl" $'\n'
	done
	[ "$tried" -gt 0 ] || skip "mirrors, peers and repos are all built"
}

@test "names are made by ctl commands, not by mkdir or touch" {
	run mkdir "$MNT/instances/web1"
	[ "$status" -ne 0 ]
	run touch "$MNT/shares/x"
	[ "$status" -ne 0 ]
	run bash -c "echo x > '$MNT/self/env_id'"
	[ "$status" -ne 0 ]
	[ "$(ls -A "$MNT/instances")" = ctl ]
}
