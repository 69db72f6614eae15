#!/usr/bin/env bats
# The ctl protocol (DESIGN.md section 3) on /instances, /instances/NAME,
# /shares and /self: verbs, bad input, several lines per write, quoting,
# outcomes per caller and per descriptor, secrets shown once.

load ../lib/common

setup_file() {
	cfs_users_create
}

setup() {
	cfs_mount
	I=$MNT/instances/ctl
	S=$MNT/shares/ctl
}

teardown() {
	cfs_teardown
}

# ---- /instances ----

@test "instances: add makes the directory with its owner and status" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	[ "$(outcome_key name)" = web1 ]
	[ -d "$MNT/instances/web1" ]
	run ls "$MNT/instances"
	[[ " $(echo $output) " == *" web1 "* ]]
	[ "$(cat "$MNT/instances/web1/owner")" = "$(id -un)" ]
	# no agent answers there: unknown, or offline once a poll was refused
	[[ $(cat "$MNT/instances/web1/status") =~ ^(unknown|offline)$ ]]
	[[ $(json_get "$MNT/instances/web1/status.json" status) =~ ^(unknown|offline)$ ]]
	[ "$(json_get "$MNT/instances/web1/status.json" url)" = http://127.0.0.1:9 ]
	[ -f "$MNT/instances/web1/ctl" ]
}

@test "instances: add takes env, secret, tls and pin" {
	secret=$(printf 'ab%.0s' {1..32})
	pin="sha256//$(printf 'A%.0s' {1..43})="
	ctl_ok "$I" "add web2 https://web2.example:8700 env=1b4e28ba-2fa1-11d2-883f-0016d3cca427 secret=$secret tls=require pin=$pin"
	# a secret given is not echoed back
	[[ $outcome != *secret=* ]]
	[ "$(json_get "$MNT/instances/web2/status.json" tls_require)" = true ]
	[ "$(json_get "$MNT/instances/web2/status.json" env_id)" = 1b4e28ba-2fa1-11d2-883f-0016d3cca427 ]
}

@test "instances: a duplicate name is EEXIST" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	before=$(tree_state)
	ctl_fails EEXIST "$I" "add web1 http://127.0.0.1:19"
	[[ $outcome == *web1* ]]
	[ "$(tree_state)" = "$before" ]
	[ "$(json_get "$MNT/instances/web1/status.json" url)" = http://127.0.0.1:9 ]
}

@test "instances: remove NAME and remove of an unknown name" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	ctl_ok "$I" "remove web1"
	[ ! -e "$MNT/instances/web1" ]
	[ "$(ls -A "$MNT/instances")" = ctl ]
	ctl_fails ENOENT "$I" "remove web1"
	[[ $outcome == *web1* ]]
}

@test "instances: refresh" {
	ctl_ok "$I" "refresh"
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	ctl_ok "$I" "refresh"
}

@test "instances/NAME/ctl: usage, refresh and remove" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	run cat "$MNT/instances/web1/ctl"
	grep -q '^refresh' <<<"$output"
	grep -q '^remove' <<<"$output"
	ctl_ok "$MNT/instances/web1/ctl" "refresh"
	ctl_fails EINVAL "$MNT/instances/web1/ctl" "frob"
	# the file goes with the instance: read the outcome on the descriptor
	exec 7<>"$MNT/instances/web1/ctl"
	echo remove >&7
	IFS= read -r out <&7 || true
	exec 7>&-
	[ "$out" = "ok removed=web1" ] || [[ $out == ok* ]]
	[ ! -e "$MNT/instances/web1" ]
}

@test "instances: an unknown instance looks up as ENOENT" {
	run cat "$MNT/instances/nope/status"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
	run stat "$MNT/instances/nope"
	[ "$status" -ne 0 ]
}

# ---- bad input: the right errno, an explanation, and nothing changed ----

# bad FILE ERRNO CMD WORD — fails with ERRNO, the outcome mentions WORD, the
# listings are as before
bad() {
	local file=$1 errno=$2 cmd=$3 word=$4 before after
	before=$(tree_state)
	ctl_fails "$errno" "$file" "$cmd"
	if [[ -n $word && $outcome != *"$word"* ]]; then
		echo "the outcome of '$cmd' does not explain with '$word': $outcome" >&2
		return 1
	fi
	after=$(tree_state)
	if [[ $before != "$after" ]]; then
		echo "'$cmd' changed the tree:" >&2
		diff <(echo "$before") <(echo "$after") >&2
		return 1
	fi
}

@test "bad input: unknown verb" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	bad "$I" EINVAL "frobnicate web1" frobnicate
	bad "$S" EINVAL "share $BOB" share
	bad "$MNT/self/ctl" EINVAL "relabel x" relabel
	# verbs are whole words, never prefixes
	bad "$I" EINVAL "ad web2 http://127.0.0.1:9" ad
	bad "$I" EINVAL "removeall" removeall
}

@test "bad input: missing argument" {
	bad "$I" EINVAL "add web1" URL
	bad "$I" EINVAL "remove" NAME
	bad "$S" EINVAL "add" SHAREE
	bad "$S" EINVAL "revoke" ID
	bad "$MNT/self/ctl" EINVAL "label" NAME
}

@test "bad input: unexpected extra argument" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	bad "$I" EINVAL "remove web1 web2" web2
	[ -d "$MNT/instances/web1" ]
}

@test "bad input: unknown option" {
	bad "$I" EINVAL "add web1 http://127.0.0.1:9 colour=red" colour
	bad "$S" EINVAL "add $BOB colour=red" colour
}

@test "bad input: duplicate option" {
	bad "$I" EINVAL "add web1 http://127.0.0.1:9 tls=require tls=require" tls
	bad "$S" EINVAL "add $BOB perms=read perms=write" perms
}

@test "bad input: bad values" {
	bad "$I" EINVAL "add web1 ftp://192.0.2.10" URL
	bad "$I" EINVAL "add web1 http://127.0.0.1:9 tls=maybe" tls
	bad "$I" EINVAL "add web1 http://127.0.0.1:9 secret=abc" secret
	bad "$I" EINVAL "add web1 http://127.0.0.1:9 secret=$(printf 'zz%.0s' {1..32})" secret
	bad "$I" EINVAL "add web1 http://127.0.0.1:9 pin=md5//abc" pin
	bad "$I" EINVAL "add web1 http://127.0.0.1:9 tls=require" https
	bad "$MNT/self/ctl" EINVAL "check wait=maybe" wait
	bad "$MNT/self/ctl" EINVAL "check delay=soon" delay
}

@test "bad input: unterminated quote" {
	bad "$S" EINVAL "add $BOB note=\"on call" quote
	bad "$I" EINVAL "add \"web1 http://127.0.0.1:9" quote
}

@test "bad input: a bad escape inside quotes" {
	bad "$S" EINVAL "add $BOB note=\"a \\q b\"" escape
}

@test "bad input: a 5000-byte write fails EINVAL and runs nothing" {
	before=$(tree_state)
	long=$(printf 'x%.0s' {1..4900})
	data="add web1 http://127.0.0.1:9"$'\n'"add web2 http://127.0.0.1:9 note=$long"$'\n'
	[ "${#data}" -gt 4096 ]
	write_fails EINVAL "$I" "$data"
	outcome=$(tail -n1 "$I")
	[[ $outcome == "error EINVAL:"* ]]
	[ "$(tree_state)" = "$before" ]
	[ ! -e "$MNT/instances/web1" ]
}

@test "bad input: a control byte in a command" {
	bad "$S" EINVAL "add $BOB note=$(printf 'a\001b')" ""
}

@test "bad input: too many tokens" {
	many=$(printf ' x%d' {1..70})
	bad "$I" EINVAL "add web1 http://127.0.0.1:9$many" ""
}

@test "bad input: a NUL byte in a write" {
	before=$(tree_state)
	run bash -c "printf 'add web1 http://127.0.0.1:9\\0x\\n' | dd of='$I' bs=1M iflag=fullblock conv=notrunc status=none"
	[ "$status" -ne 0 ]
	[[ $output == *"$(errno_text EINVAL)"* ]]
	[[ $(tail -n1 "$I") == "error EINVAL:"* ]]
	[ "$(tree_state)" = "$before" ]
}

@test "bad input: bad expires" {
	bad "$S" EINVAL "add $BOB expires=tomorrow" expires
	bad "$S" EINVAL "add $BOB expires=2026-13-45T00:00:00Z" expires
	bad "$S" EINVAL "add $BOB expires=+5y" expires
	# in the past
	bad "$S" EINVAL "add $BOB expires=2001-01-01T00:00:00Z" expires
}

@test "bad input: bad perms" {
	bad "$S" EINVAL "add $BOB perms=read,fly" perms
	bad "$S" EINVAL "add $BOB perms=" perms
	bad "$S" EINVAL "add $BOB perms=READ" perms
}

@test "bad input: bad names" {
	bad "$I" EINVAL "add ../x http://127.0.0.1:9" NAME
	bad "$I" EINVAL "add a/b http://127.0.0.1:9" NAME
	bad "$I" EINVAL "add .hidden http://127.0.0.1:9" NAME
	bad "$I" EINVAL "add -x http://127.0.0.1:9" NAME
	bad "$I" EINVAL "add $(printf 'n%.0s' {1..65}) http://127.0.0.1:9" NAME
	bad "$S" EINVAL "add $BOB instance=../x" instance
	[ "$(ls -A "$MNT/instances")" = ctl ]
}

@test "bad input: unknown sharee is ENOENT" {
	bad "$S" ENOENT "add cfstest_nosuchuser" cfstest_nosuchuser
}

@test "bad input: unknown targets are ENOENT" {
	bad "$S" ENOENT "revoke 00000000-0000-4000-8000-000000000000" 00000000-0000-4000-8000-000000000000
	bad "$S" ENOENT "disable 00000000-0000-4000-8000-000000000000" ""
	bad "$S" ENOENT "enable 00000000-0000-4000-8000-000000000000" ""
	bad "$S" ENOENT "add $BOB instance=nosuch" nosuch
	bad "$I" ENOENT "remove nosuch" nosuch
}

@test "bad input lands in /self/errors with a hint" {
	ctl_fails EINVAL "$S" "add $BOB expires=tomorrow"
	run cat "$MNT/self/errors"
	[ "$status" -eq 0 ]
	line=$(grep -F '/shares/ctl' <<<"$output" | tail -n1)
	[ -n "$line" ]
	[[ $line == *EINVAL* ]]
	[[ $line == *expires* ]]
	[[ $line == *hint=* ]]
	# time first, ISO 8601 UTC
	[[ $line =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z ]]
}

# ---- several lines per write ----

@test "several lines run in order and stop at the first failure" {
	data="add a1 http://127.0.0.1:9"$'\n'"add a2 http://127.0.0.1:9"$'\n'"frob"$'\n'"add a3 http://127.0.0.1:9"$'\n'
	write_fails EINVAL "$I" "$data"
	[ -d "$MNT/instances/a1" ]
	[ -d "$MNT/instances/a2" ]
	[ ! -e "$MNT/instances/a3" ]
	outcome=$(tail -n1 "$I")
	[[ $outcome == "error EINVAL:"* ]]
	[[ $outcome == *"line 3"* ]]
}

@test "several lines: the failing line's errno is the write's errno" {
	data="add a1 http://127.0.0.1:9"$'\n'"add a1 http://127.0.0.1:9"$'\n'"add a3 http://127.0.0.1:9"$'\n'
	write_fails EEXIST "$I" "$data"
	[ -d "$MNT/instances/a1" ]
	[ ! -e "$MNT/instances/a3" ]
	outcome=$(tail -n1 "$I")
	[[ $outcome == "error EEXIST:"* ]]
	[[ $outcome == *"line 2"* ]]
}

@test "several lines that all succeed; blank lines and CRLF are fine" {
	ctl_ok "$I" $'add a1 http://127.0.0.1:9\n\nadd a2 http://127.0.0.1:9\r\n\n'
	[ -d "$MNT/instances/a1" ]
	[ -d "$MNT/instances/a2" ]
}

@test "an empty write and a bare truncate succeed and do nothing" {
	before=$(tree_state)
	: >"$I"
	ctl_write "$I" $'\n\n'
	[ "$(tree_state)" = "$before" ]
}

# ---- quoting ----

@test "quoting: a quoted value keeps its blanks" {
	ctl_ok "$S" "add $BOB note=\"on call\""
	id=$(outcome_key id)
	is_uuid "$id"
	[ "$(cat "$MNT/shares/$id/note")" = "on call" ]
	[ "$(json_get "$MNT/shares/$id/share.json" note)" = "on call" ]
}

@test "quoting: \\\" and \\\\ are the escapes" {
	ctl_ok "$S" "add $BOB note=\"say \\\"hi\\\" \\\\ bye\""
	id=$(outcome_key id)
	[ "$(cat "$MNT/shares/$id/note")" = 'say "hi" \ bye' ]
	[ "$(json_get "$MNT/shares/$id/share.json" note)" = 'say "hi" \ bye' ]
}

@test "quoting: a quoted positional token" {
	ctl_ok "$S" "add \"$BOB\" note=x"
	id=$(outcome_key id)
	[ "$(cat "$MNT/shares/$id/sharee")" = "$BOB" ]
}

@test "quoting: outcome values with blanks come back quoted" {
	ctl_ok "$MNT/self/ctl" 'label "edge one"'
	[[ $outcome == *'label="edge one"'* ]]
	[ "$(outcome_key label)" = "edge one" ]
}

# ---- outcomes: per caller, per descriptor ----

@test "a ctl read shows the usage, then the caller's last outcome" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9 secret=$(printf '01%.0s' {1..32})"
	run cat "$I"
	[[ ${lines[0]} == add* ]]
	[ "${lines[-1]}" = "ok name=web1" ]
	ctl_fails EEXIST "$I" "add web1 http://127.0.0.1:9"
	run cat "$I"
	[[ ${lines[-1]} == "error EEXIST:"* ]]
	# an outcome is one line (one per command run)
	[ "$(grep -cE '^(ok|error)' <<<"$output")" -eq 1 ]
}

@test "outcomes are per caller" {
	cfs_need_root
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	run as_user "$ALICE" cat "$I"
	[ "$status" -eq 0 ]
	refute grep -qE '^(ok|error)' <<<"$output"
	as_user "$ALICE" ctl_fails EINVAL "$I" "frob"
	[ "$(tail -n1 "$I" | cut -c1-7)" = "ok name" ]
}

@test "a read-write descriptor reads its own outcome from its first byte" {
	exec 7<>"$I"
	echo "add web1 http://127.0.0.1:9 secret=$(printf '02%.0s' {1..32})" >&7
	out=$(cat <&7)
	exec 7>&-
	[ "$out" = "ok name=web1" ]
}

@test "a read-write descriptor: a failed write's outcome, then a new one" {
	exec 7<>"$I"
	run bash -c 'echo "add web1 notaurl" >&7'
	[ "$status" -ne 0 ]
	out1=$(cat <&7)
	echo "add web1 http://127.0.0.1:9 secret=$(printf '03%.0s' {1..32})" >&7
	out2=$(cat <&7)
	exec 7>&-
	[[ $out1 == "error EINVAL:"* ]]
	[ "$out2" = "ok name=web1" ]
}

@test "a read-write descriptor is not disturbed by other writers" {
	exec 7<>"$S"
	echo "add $BOB note=mine" >&7
	ctl_ok "$S" "add $CAROL note=other"
	out=$(cat <&7)
	exec 7>&-
	[[ $out == "ok id="* ]]
	id=${out#ok id=}
	id=${id%% *}
	[ "$(cat "$MNT/shares/$id/sharee")" = "$BOB" ]
}

# ---- secrets are shown once ----

@test "a minted secret is shown by the first read only" {
	ctl_write "$I" $'add web1 http://127.0.0.1:9\n'
	first=$(tail -n1 "$I")
	second=$(tail -n1 "$I")
	[[ $first =~ ^ok\ name=web1\ secret=[0-9a-f]{64}$ ]] || { echo "first read: $first"; false; }
	[ "$second" = "ok name=web1 secret=(shown)" ]
	# and never in a state file
	secret=${first##*secret=}
	refute grep -rqF "$secret" "$MNT/instances/web1" 2>/dev/null
}

@test "a minted secret read on the writing descriptor is then shown as (shown)" {
	exec 7<>"$I"
	echo "add web1 http://127.0.0.1:9" >&7
	first=$(cat <&7)
	exec 7>&-
	[[ $first =~ ^ok\ name=web1\ secret=[0-9a-f]{64}$ ]]
	[ "$(tail -n1 "$I")" = "ok name=web1 secret=(shown)" ]
}

@test "two instances get different secrets" {
	ctl_write "$I" $'add a1 http://127.0.0.1:9\n'
	s1=$(tail -n1 "$I")
	ctl_write "$I" $'add a2 http://127.0.0.1:9\n'
	s2=$(tail -n1 "$I")
	[ "${s1##*secret=}" != "${s2##*secret=}" ]
}

# ---- /shares ----

@test "shares: add, the share files and share.json" {
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	ctl_ok "$S" "add $BOB instance=web1 perms=read,command expires=2099-01-02T03:04:05Z note=hello"
	id=$(outcome_key id)
	is_uuid "$id"
	d=$MNT/shares/$id
	run ls "$d"
	for f in sharer sharee instance perms expires enabled note created share.json; do
		[ -f "$d/$f" ] || { echo "no $f"; false; }
	done
	[ "$(cat "$d/sharer")" = "$(id -un)" ]
	[ "$(cat "$d/sharee")" = "$BOB" ]
	[ "$(cat "$d/instance")" = web1 ]
	[ "$(cat "$d/perms")" = read,command ]
	[ "$(cat "$d/expires")" = 2099-01-02T03:04:05Z ]
	[ "$(cat "$d/enabled")" = yes ]
	[ "$(cat "$d/note")" = hello ]
	[[ $(cat "$d/created") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
	[ "$(json_get "$d/share.json" id)" = "$id" ]
	[ "$(json_get "$d/share.json" sharee)" = "$BOB" ]
	[ "$(json_get "$d/share.json" instance)" = web1 ]
	[ "$(json_get "$d/share.json" perms.0)" = read ]
	[ "$(json_get "$d/share.json" perms.1)" = command ]
	[ "$(json_get "$d/share.json" enabled)" = true ]
	[ "$(json_get "$d/share.json" expires)" = 2099-01-02T03:04:05Z ]
	run ls "$MNT/shares"
	[[ " $(echo $output) " == *" $id "* ]]
}

@test "shares: defaults are every instance, all perms, no expiry" {
	ctl_ok "$S" "add $BOB"
	d=$MNT/shares/$(outcome_key id)
	[ "$(cat "$d/instance")" = "*" ]
	[ "$(cat "$d/perms")" = all ]
	[ "$(cat "$d/expires")" = never ]
	[ "$(json_get "$d/share.json" expires)" = null ]
}

@test "shares: relative expiry" {
	ctl_ok "$S" "add $BOB expires=+7d"
	d=$MNT/shares/$(outcome_key id)
	exp=$(date -u -d "$(cat "$d/expires")" +%s)
	now=$(date -u +%s)
	[ $((exp - now)) -gt $((7 * 86400 - 60)) ]
	[ $((exp - now)) -le $((7 * 86400 + 5)) ]
	ctl_ok "$S" "add $BOB expires=+90m"
	d=$MNT/shares/$(outcome_key id)
	exp=$(date -u -d "$(cat "$d/expires")" +%s)
	[ $((exp - now)) -gt $((90 * 60 - 60)) ]
	[ $((exp - now)) -le $((90 * 60 + 5)) ]
	ctl_ok "$S" "add $BOB expires=+12h"
	d=$MNT/shares/$(outcome_key id)
	exp=$(date -u -d "$(cat "$d/expires")" +%s)
	[ $((exp - now)) -gt $((12 * 3600 - 60)) ]
	[ $((exp - now)) -le $((12 * 3600 + 5)) ]
}

@test "shares: an absolute expiry with an offset is shown in UTC" {
	ctl_ok "$S" "add $BOB expires=2099-01-01T02:30:00+02:00"
	[ "$(cat "$MNT/shares/$(outcome_key id)/expires")" = 2099-01-01T00:30:00Z ]
}

@test "shares: disable, enable and revoke" {
	ctl_ok "$S" "add $BOB"
	id=$(outcome_key id)
	ctl_ok "$S" "disable $id"
	[ "$(cat "$MNT/shares/$id/enabled")" = no ]
	[ "$(json_get "$MNT/shares/$id/share.json" enabled)" = false ]
	ctl_ok "$S" "enable $id"
	[ "$(cat "$MNT/shares/$id/enabled")" = yes ]
	ctl_ok "$S" "revoke $id"
	[ ! -e "$MNT/shares/$id" ]
	ctl_fails ENOENT "$S" "revoke $id"
}

@test "shares: every change is journalled" {
	command -v sqlite3 >/dev/null || skip "needs the sqlite3 shell"
	db=$(ls "$STATE"/*.db | head -n1)
	[ -f "$db" ]
	count() { sqlite3 "file:$db?mode=ro" "SELECT COUNT(*) FROM journal WHERE kind = '$1'"; }
	i0=$(count instance) s0=$(count share)
	ctl_ok "$I" "add web1 http://127.0.0.1:9"
	ctl_ok "$S" "add $BOB instance=web1"
	id=$(outcome_key id)
	ctl_ok "$S" "disable $id"
	ctl_ok "$S" "revoke $id"
	[ "$(count instance)" -eq $((i0 + 1)) ]
	[ "$(count share)" -eq $((s0 + 3)) ]
	# a stable entity id, increasing sequence numbers, and this node as author
	run sqlite3 "file:$db?mode=ro" "SELECT DISTINCT entity FROM journal WHERE kind = 'share' AND seq > 0 ORDER BY seq"
	[[ $output == *"$id"* ]]
	author=$(sqlite3 "file:$db?mode=ro" "SELECT DISTINCT author FROM journal WHERE entity = '$id'")
	[ "$author" = "$(cat "$MNT/self/env_id")" ]
	# sequence numbers increase, and each payload is JSON
	sqlite3 "file:$db?mode=ro" "SELECT seq FROM journal ORDER BY rowid" | sort -nc
	[ "$(sqlite3 "file:$db?mode=ro" "SELECT COUNT(*) FROM journal WHERE NOT json_valid(payload)")" -eq 0 ]

	# a bad command adds nothing
	n=$(sqlite3 "file:$db?mode=ro" "SELECT COUNT(*) FROM journal")
	ctl_fails EINVAL "$S" "add $BOB perms=fly"
	[ "$(sqlite3 "file:$db?mode=ro" "SELECT COUNT(*) FROM journal")" -eq "$n" ]
}

# ---- /self/ctl ----

@test "self: label NAME" {
	ctl_ok "$MNT/self/ctl" "label edge-1"
	[ "$(outcome_key label)" = edge-1 ]
	if [ -f "$MNT/self/label" ]; then
		[ "$(cat "$MNT/self/label")" = edge-1 ]
	fi
	bad "$MNT/self/ctl" EINVAL 'label ""' ""
}

@test "self: label is for superadmins" {
	cfs_need_root
	as_user "$ALICE" ctl_fails EACCES "$MNT/self/ctl" "label mine"
}
