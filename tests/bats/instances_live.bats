#!/usr/bin/env bats
# Live instances through the mount: three real agents on 127.0.0.1 paired
# through /instances/ctl, their live files, files/ round trips, commands,
# git, a read-only sharee, confinement, an agent going away, rotation.

load ../lib/common

AGENT=${CLOUDFS_AGENT:-$CFS_ROOT/build/tools/cloudfs-agent}
SIGN=${CFS_SIGN:-$CFS_ROOT/build/tests/unit/wire/cfs-sign}

setup_file() {
	cfs_users_create
}

setup() {
	cfs_need_root
	[ -x "$AGENT" ] || skip "no $AGENT: build first"
	AGENTS=()
	cfs_mount -o poll.interval=1s -o poll.timeout=3s
	AT=$CFS_TMP/agents
	mkdir -p "$AT"
}

teardown() {
	local p
	for p in "${AGENTS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	cfs_teardown
}

# agent_up NAME — init, configure, start and pair an agent; sets PORT_NAME
agent_up() {
	local n=$1 d=$AT/$1
	mkdir -p "$d/root"
	local env
	env=$("$AGENT" init --root "$d/root" --listen 127.0.0.1:0 --state "$d/state")
	cat >>"$d/state/agent.conf" <<EOF

[command.hello]
argv = echo "hello from $n"

[command.fails]
argv = sh -c "echo failing; exit 3"

[command.restart]
argv = true

[logs]
app = $d/app.log

[config]
site = $d/site.conf
EOF
	seq 1 300 | sed "s/^/$n line /" >"$d/app.log"
	echo "server_name $n;" >"$d/site.conf"
	"$AGENT" serve --state "$d/state" 2>"$d/agent.log" 3>&- &
	AGENTS+=($!)
	wait_for 10 grep -q 'listening on .*(port [0-9]*, ' "$d/agent.log"
	local port
	port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$d/agent.log" | head -1)
	echo "$port" >"$d/port"
	ctl_ok "$MNT/instances/ctl" "add $n http://127.0.0.1:$port env=$env"
	local secret
	secret=$(sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p' <<<"$outcome")
	[ ${#secret} -eq 64 ]
	echo "$secret" >"$d/secret"
	"$AGENT" pair "$(cat "$MNT/self/env_id")" "$secret" --state "$d/state" >/dev/null
	wait_for 10 grep -qx online "$MNT/instances/$n/status"
}

@test "three agents pair and come online; live files read" {
	agent_up web1
	agent_up web2
	agent_up web3
	for n in web1 web2 web3; do
		[ "$(cat "$MNT/instances/$n/status")" = online ]
		[ "$(json_get "$MNT/instances/$n/status.json" status)" = online ]
		[ -n "$(json_get "$MNT/instances/$n/status.json" last_seen)" ]
		[ -n "$(key_of "$MNT/instances/$n/info" hostname)" ]
		[ -n "$(key_of "$MNT/instances/$n/info" kernel)" ]
		[ -n "$(key_of "$MNT/instances/$n/info" agent_version)" ]
		[ -n "$(key_of "$MNT/instances/$n/health" mem_total)" ]
		[ -n "$(key_of "$MNT/instances/$n/health" uptime)" ]
		[ "$(json_get "$MNT/instances/$n/info.json" env_id)" != "" ]
		[ "$(ls "$MNT/instances/$n/logs")" = app ]
		[ "$(tail -n 1 "$MNT/instances/$n/logs/app")" = "$n line 300" ]
		[ "$(cat "$MNT/instances/$n/config/site")" = "server_name $n;" ]
	done
	grep -q '^cloudfs_instances{status="online"} 3$' "$MNT/metrics"
}

@test "files/ round trips with cp, mv, rm, mkdir and a 200 MB file" {
	agent_up web1
	local F=$MNT/instances/web1/files R=$AT/web1/root
	echo hello >"$CFS_TMP/small"
	cp "$CFS_TMP/small" "$F/a.txt"
	cmp "$CFS_TMP/small" "$R/a.txt"
	cmp "$CFS_TMP/small" "$F/a.txt"
	mkdir "$F/dir"
	mv "$F/a.txt" "$F/dir/b.txt"
	[ ! -e "$R/a.txt" ]
	cmp "$CFS_TMP/small" "$R/dir/b.txt"
	echo out-of-band >"$R/dir/c.txt"
	[ "$(cat "$F/dir/c.txt")" = out-of-band ]
	[ "$(ls "$F/dir" | tr '\n' ' ')" = "b.txt c.txt " ]
	rm "$F/dir/b.txt" "$F/dir/c.txt"
	rmdir "$F/dir"
	[ ! -e "$R/dir" ]
	# a large file, in and out, hashes checked
	head -c $((200 * 1024 * 1024)) /dev/urandom >"$CFS_TMP/big"
	cp "$CFS_TMP/big" "$F/big"
	[ "$(sha256sum <"$R/big")" = "$(sha256sum <"$CFS_TMP/big")" ]
	cp "$F/big" "$CFS_TMP/big.back"
	cmp "$CFS_TMP/big" "$CFS_TMP/big.back"
	# no temp file is left behind
	[ -z "$(ls -A "$R" | grep cloudfs-tmp || true)" ]
	rm "$F/big"
}

@test "files/ keeps POSIX details: modes, links, times, xattrs, rename flags" {
	agent_up web1
	local F=$MNT/instances/web1/files R=$AT/web1/root
	echo x >"$F/f"
	chmod 0640 "$F/f"
	[ "$(stat -c %a "$R/f")" = 640 ]
	ln "$F/f" "$F/hard"
	[ "$(stat -c %i "$F/f")" = "$(stat -c %i "$F/hard")" ]
	[ "$(stat -c %h "$F/f")" = 2 ]
	ln -s f "$F/sym"
	[ "$(readlink "$F/sym")" = f ]
	touch -d '2001-02-03 04:05:06' "$F/f"
	[ "$(stat -c %Y "$R/f")" = "$(date -d '2001-02-03 04:05:06' +%s)" ]
	mkfifo "$F/fifo"
	[ -p "$R/fifo" ]
	setfattr -n user.k -v v1 "$F/f"
	[ "$(getfattr --only-values -n user.k "$R/f")" = v1 ]
	# truncate through an open descriptor, then append
	truncate -s 1 "$F/f"
	[ "$(stat -c %s "$R/f")" = 1 ]
	# rename onto an existing name, then a missing source
	echo y >"$F/g"
	mv "$F/g" "$F/f"
	[ "$(cat "$R/f")" = y ]
	run mv "$F/nope" "$F/x"
	[ "$status" -ne 0 ]
	# a rename into another tree is EXDEV, so mv copies
	mkdir "$CFS_TMP/local"
	mv "$F/f" "$CFS_TMP/local/f"
	[ ! -e "$R/f" ]
	[ "$(cat "$CFS_TMP/local/f")" = y ]
	[ "$(df --output=target "$F" | tail -n 1)" = "$MNT" ]
}

@test "commands run as jobs; a failing one fails the write; a disallowed one is EACCES" {
	agent_up web1
	local C=$MNT/instances/web1/ctl
	ctl_ok "$C" "run hello"
	local job
	job=$(outcome_key job)
	[ "$(cat "$MNT/jobs/$job/status")" = ok ]
	grep -q "hello from web1" "$MNT/jobs/$job/log"
	ctl_fails EIO "$C" "run fails"
	grep -q "exit status 3" "$C"
	ctl_fails EACCES "$C" "run rm -rf /"
	ctl_ok "$C" "restart"
	ctl_fails ENOENT "$C" "update"
	ctl_ok "$C" "run hello wait=no"
	job=$(outcome_key job)
	wait_for 10 grep -qx ok "$MNT/jobs/$job/status"
}

@test "git: status, stage, commit, branch and checkout on a real repository" {
	command -v git >/dev/null || skip "no git"
	local d=$AT/web1/root/proj/app
	mkdir -p "$d"
	git -C "$d" init -q
	git -C "$d" config user.email t@example.net
	git -C "$d" config user.name tester
	echo one >"$d/f.txt"
	git -C "$d" add f.txt
	git -C "$d" commit -qm init
	echo two >>"$d/f.txt"
	echo new >"$d/g.txt"
	agent_up web1
	local G=$MNT/instances/web1/git
	[ "$(ls "$G")" = 'proj%2Fapp' ]
	local R="$G/proj%2Fapp"
	grep -qx 'unstaged M f.txt' "$R/status"
	grep -qx 'untracked ? g.txt' "$R/status"
	grep -q '^+two' "$R/diff"
	ctl_ok "$R/ctl" "stage f.txt g.txt"
	grep -qx 'staged A g.txt' "$R/status"
	ctl_ok "$R/ctl" 'commit message="second commit"'
	grep -q 'second commit' "$R/log"
	ctl_fails EINVAL "$R/ctl" "commit"
	ctl_ok "$R/ctl" "branch feature"
	ctl_ok "$R/ctl" "checkout feature"
	[ "$(key_of "$R/status" branch)" = feature ]
	grep -q '^\* feature' "$R/branches"
	ctl_fails EACCES "$R/ctl" "stage ../../etc/passwd"
}

@test "a sharee with perms=read reads but cannot write or run" {
	agent_up web1
	echo shared >"$AT/web1/root/doc.txt"
	chmod 644 "$AT/web1/root/doc.txt"
	ctl_ok "$MNT/shares/ctl" "add $BOB instance=web1 perms=read"
	local F=$MNT/instances/web1/files
	[ "$(as_user "$BOB" cat "$F/doc.txt")" = shared ]
	[ "$(as_user "$BOB" cat "$MNT/instances/web1/status")" = online ]
	run as_user "$BOB" sh -c "echo x > '$F/new.txt'"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	[ ! -e "$AT/web1/root/new.txt" ]
	run as_user "$BOB" sh -c "echo 'run hello' > '$MNT/instances/web1/ctl'"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	# carol has no share: the instance is not even there
	run as_user "$CAROL" ls "$MNT/instances/web1"
	[ "$status" -ne 0 ]
	[[ $output == *"No such file or directory"* ]]
}

@test "nothing leaves the agent's root: symlinks out are refused with EACCES" {
	agent_up web1
	local F=$MNT/instances/web1/files R=$AT/web1/root
	ln -s /etc/passwd "$R/evil"
	mkdir "$R/sub"
	ln -s /etc "$R/sub/etc"
	# the link itself is shown (a symlink is text) ...
	[ "$(readlink "$F/evil")" = /etc/passwd ]
	# ... but following it through the kernel leaves the mount and the agent
	# answers nothing about its own /etc; the agent's own refusal is tested in
	# agent.bats with raw requests.
	run cat "$F/evil"
	[ "$output" = "$(cat /etc/passwd)" ] || [ "$status" -ne 0 ]
	# .. at the top of files/ is the instance directory, never the agent's parent
	[ "$(cd "$F/.." && pwd)" = "$MNT/instances/web1" ]
}

@test "an agent that stops shows offline and live reads fail fast; the mount stays responsive" {
	agent_up web1
	agent_up web2
	kill -TERM "${AGENTS[0]}"
	wait "${AGENTS[0]}" || true
	wait_for 10 grep -qx offline "$MNT/instances/web1/status"
	local t0 t1
	t0=$(date +%s)
	run cat "$MNT/instances/web1/health"
	t1=$(date +%s)
	[ "$status" -ne 0 ]
	[[ $output == *"No route to host"* || $output == *"timed out"* ]]
	[ $((t1 - t0)) -le 10 ]
	# the rest answers at once
	ls -l "$MNT/instances" >/dev/null
	[ "$(cat "$MNT/instances/web2/status")" = online ]
	grep -q "EHOSTUNREACH\|ETIMEDOUT" "$MNT/self/errors"
}

@test "rotate hands the agent a new secret, shown once; the old one stops working" {
	[ -x "$SIGN" ] || skip "no $SIGN"
	agent_up web1
	local old new port
	old=$(cat "$AT/web1/secret")
	port=$(cat "$AT/web1/port")
	ctl_ok "$MNT/instances/web1/ctl" rotate
	new=$(sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p' <<<"$outcome")
	[ ${#new} -eq 64 ]
	[ "$new" != "$old" ]
	grep -q 'secret=(shown)' "$MNT/instances/web1/ctl"
	# the manager still talks to it
	ctl_ok "$MNT/instances/web1/ctl" refresh
	[ "$(outcome_key status)" = online ]
	# a request signed with the old secret is refused
	local menv
	menv=$(cat "$MNT/self/env_id")
	mapfile -t sig < <("$SIGN" --secret "$old" --env "$menv" --method GET --target /v1/health \
		--host "127.0.0.1:$port")
	[ "$(curl -s -o /dev/null -w '%{http_code}' "${sig[@]}" "http://127.0.0.1:$port/v1/health")" = 401 ]
	mapfile -t sig < <("$SIGN" --secret "$new" --env "$menv" --method GET --target /v1/health \
		--host "127.0.0.1:$port")
	[ "$(curl -s -o /dev/null -w '%{http_code}' "${sig[@]}" "http://127.0.0.1:$port/v1/health")" = 200 ]
}
