#!/usr/bin/env bats
# Users and permissions (DESIGN.md section 4), with real Unix users acting
# through setpriv on a mount that runs with allow_other: alice owns an
# instance, a share makes it visible to bob, and it disappears on revoke,
# disable and expiry; carol sees nothing of alice's.

load ../lib/common

setup_file() {
	cfs_users_create
}

setup() {
	cfs_need_root
	cfs_mount
	I=$MNT/instances/ctl
	S=$MNT/shares/ctl
	as_user "$ALICE" ctl_ok "$I" "add app http://127.0.0.1:9"
}

teardown() {
	cfs_teardown
}

# sees USER NAME — USER lists /instances/NAME and can read its files
sees() {
	as_user "$1" ls "$MNT/instances" | grep -qx "$2" &&
		as_user "$1" cat "$MNT/instances/$2/owner" >/dev/null
}

# blind USER NAME — NAME is not listed for USER and looks up as ENOENT
blind() {
	local out
	if as_user "$1" ls "$MNT/instances" | grep -qx "$2"; then
		echo "$1 lists /instances/$2" >&2
		return 1
	fi
	out=$(as_user "$1" stat "$MNT/instances/$2" 2>&1) && {
		echo "$1 can stat /instances/$2" >&2
		return 1
	}
	[[ $out == *"No such file or directory"* ]] || {
		echo "$1: stat /instances/$2 says: $out" >&2
		return 1
	}
	out=$(as_user "$1" cat "$MNT/instances/$2/status" 2>&1) && return 1
	[[ $out == *"No such file or directory"* ]]
}

@test "the owner sees her instance; it is hers" {
	sees "$ALICE" app
	[ "$(as_user "$ALICE" cat "$MNT/instances/app/owner")" = "$ALICE" ]
	# and the superadmin sees everything
	sees root app
}

@test "without a share, other users see nothing of it" {
	blind "$BOB" app
	blind "$CAROL" app
	as_user "$BOB" ctl_fails ENOENT "$I" "remove app"
}

@test "a share from alice to bob makes alice's instance visible to bob" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	id=$(outcome_key id)
	sees "$BOB" app
	[ "$(as_user "$BOB" cat "$MNT/instances/app/owner")" = "$ALICE" ]
	# both see the share; carol sees neither the share nor the instance
	as_user "$ALICE" ls "$MNT/shares" | grep -qx "$id"
	as_user "$BOB" ls "$MNT/shares" | grep -qx "$id"
	[ "$(as_user "$BOB" cat "$MNT/shares/$id/sharer")" = "$ALICE" ]
	blind "$CAROL" app
}

@test "it disappears on revoke" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	id=$(outcome_key id)
	sees "$BOB" app
	as_user "$ALICE" ctl_ok "$S" "revoke $id"
	blind "$BOB" app
	refute eval "as_user $BOB ls '$MNT/shares' | grep -qx '$id'"
}

@test "it disappears on disable and comes back on enable" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	id=$(outcome_key id)
	sees "$BOB" app
	as_user "$ALICE" ctl_ok "$S" "disable $id"
	blind "$BOB" app
	# bob still sees the (disabled) share itself
	[ "$(as_user "$BOB" cat "$MNT/shares/$id/enabled")" = no ]
	as_user "$ALICE" ctl_ok "$S" "enable $id"
	sees "$BOB" app
}

@test "it disappears on expiry" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app expires=+2s"
	id=$(outcome_key id)
	sees "$BOB" app
	sleep 3
	blind "$BOB" app
	as_user "$BOB" ctl_fails ENOENT "$I" "remove app"
}

@test "a share of every instance (instance=*) covers instances added later" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB"
	sees "$BOB" app
	as_user "$ALICE" ctl_ok "$I" "add app2 http://127.0.0.1:9"
	sees "$BOB" app2
	# but not root's or carol's instances
	ctl_ok "$I" "add rootbox http://127.0.0.1:9"
	as_user "$CAROL" ctl_ok "$I" "add carolbox http://127.0.0.1:9"
	blind "$BOB" rootbox
	blind "$BOB" carolbox
}

@test "a share of one instance does not cover the sharer's others" {
	as_user "$ALICE" ctl_ok "$I" "add app2 http://127.0.0.1:9"
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	sees "$BOB" app
	blind "$BOB" app2
}

@test "perms=read does not let bob command the instance (EACCES)" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app perms=read"
	sees "$BOB" app
	as_user "$BOB" write_fails EACCES "$MNT/instances/app/ctl" $'refresh\n'
	as_user "$BOB" write_fails EACCES "$MNT/instances/app/ctl" $'remove\n'
	sees "$ALICE" app
	# the refusal is in bob's /self/errors
	as_user "$BOB" cat "$MNT/self/errors" | grep '/instances/app/ctl' | grep -q EACCES
}

@test "perms=command lets bob command it; a share without perms grants all" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app perms=read,command"
	as_user "$BOB" ctl_ok "$MNT/instances/app/ctl" "refresh"
	as_user "$ALICE" ctl_ok "$S" "add $CAROL instance=app"
	as_user "$CAROL" ctl_ok "$MNT/instances/app/ctl" "refresh"
}

@test "only the owner may remove an instance; a sharee gets EACCES" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	as_user "$BOB" ctl_fails EACCES "$I" "remove app"
	sees "$BOB" app
	as_user "$CAROL" ctl_fails ENOENT "$I" "remove app"
	as_user "$ALICE" ctl_ok "$I" "remove app"
	blind "$BOB" app
}

@test "a sharee may not re-share what he does not own" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	as_user "$BOB" ctl_fails EACCES "$S" "add $CAROL instance=app"
	blind "$CAROL" app
}

@test "carol sees nothing of alice's" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app note=secret-plan"
	id=$(outcome_key id)
	blind "$CAROL" app
	refute eval "as_user $CAROL ls '$MNT/shares' | grep -qx '$id'"
	run as_user "$CAROL" cat "$MNT/shares/$id/sharer"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
	run as_user "$CAROL" ls "$MNT/shares/$id"
	[ "$status" -ne 0 ]
	# nor the instance's name anywhere she can read
	refute eval "as_user $CAROL grep -rqs -e app -e secret-plan '$MNT/instances' '$MNT/shares'"
}

@test "alice cannot revoke, disable or enable carol's share (ENOENT: she cannot see it)" {
	as_user "$CAROL" ctl_ok "$I" "add carolbox http://127.0.0.1:9"
	as_user "$CAROL" ctl_ok "$S" "add $BOB instance=carolbox"
	id=$(outcome_key id)
	as_user "$ALICE" ctl_fails ENOENT "$S" "revoke $id"
	as_user "$ALICE" ctl_fails ENOENT "$S" "disable $id"
	as_user "$ALICE" ctl_fails ENOENT "$S" "enable $id"
	sees "$BOB" carolbox
	[ "$(cat "$MNT/shares/$id/enabled")" = yes ]
}

@test "the sharee sees the share but may not disable or enable it (EACCES)" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	id=$(outcome_key id)
	as_user "$BOB" ctl_fails EACCES "$S" "disable $id"
	as_user "$ALICE" ctl_ok "$S" "disable $id"
	as_user "$BOB" ctl_fails EACCES "$S" "enable $id"
	blind "$BOB" app
}

@test "a superadmin may act on any user's share" {
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app"
	id=$(outcome_key id)
	ctl_ok "$S" "disable $id"
	blind "$BOB" app
	ctl_ok "$S" "revoke $id"
	refute eval "ls '$MNT/shares' | grep -qx '$id'"
}

@test "sharing with yourself is refused" {
	as_user "$ALICE" ctl_fails EINVAL "$S" "add $ALICE"
}

@test "each user's /self/errors lists their own failures with a hint" {
	as_user "$ALICE" ctl_fails EINVAL "$S" "add $BOB perms=fly"
	as_user "$ALICE" ctl_fails ENOENT "$S" "add cfstest_nosuchuser"
	as_user "$BOB" ctl_fails EINVAL "$I" "frob"
	run as_user "$ALICE" cat "$MNT/self/errors"
	[ "$status" -eq 0 ]
	grep -F /shares/ctl <<<"$output" | grep -q EINVAL
	grep -F /shares/ctl <<<"$output" | grep -q ENOENT
	grep -q 'perms' <<<"$output"
	# each failure has a hint naming the fix
	while IFS= read -r line; do
		[[ $line == *hint=* ]] || { echo "no hint in: $line"; false; }
	done <<<"$output"
	# alice's failures are hers alone
	refute eval "as_user $ALICE cat '$MNT/self/errors' | grep -q frob"
	run as_user "$BOB" cat "$MNT/self/errors"
	grep -q frob <<<"$output"
	refute grep -q perms <<<"$output"
	run as_user "$CAROL" cat "$MNT/self/errors"
	[ -z "$output" ]
}

@test "whoami tells each user who they are" {
	for u in "$ALICE" "$BOB" "$CAROL"; do
		[ "$(as_user "$u" key_of "$MNT/self/whoami" user)" = "$u" ]
	done
}

@test "superadmins named in the config see and act on everything" {
	cfs_umount
	cfs_mount -o "users.superadmins=$CAROL"
	[[ $(as_user "$CAROL" key_of "$MNT/self/whoami" roles) == *superadmin* ]]
	sees "$CAROL" app
	as_user "$CAROL" ctl_ok "$MNT/self/ctl" "check"
	# bob is still a plain user
	[[ $(as_user "$BOB" key_of "$MNT/self/whoami" roles) != *superadmin* ]]
	blind "$BOB" app
}
