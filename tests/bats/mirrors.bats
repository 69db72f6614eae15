#!/usr/bin/env bats
# Mirrors through the mount: three real agents on 127.0.0.1 paired through
# /instances/ctl; one-time syncs compared with diff -r and hashes, plan
# classes after scripted edits on both sides, conflicts, excludes, eol,
# the delete guard, persistent mirrors, and the destination's agent or the
# manager killed mid-transfer.

load ../lib/common

AGENT=${CLOUDFS_AGENT:-$CFS_ROOT/build/tools/cloudfs-agent}

setup_file() {
	cfs_users_create
}

setup() {
	cfs_need_root
	[ -x "$AGENT" ] || skip "no $AGENT: build first"
	AGENTS=()
	cfs_mount -o poll.interval=1s -o poll.timeout=10s
	AT=$CFS_TMP/agents
	mkdir -p "$AT"
	agent_up a
	agent_up b
	agent_up c
	A=$AT/a/root B=$AT/b/root C=$AT/c/root
}

teardown() {
	local p
	for p in "${AGENTS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	cfs_teardown
}

# agent_up NAME — init, start and pair an agent serving AT/NAME/root
agent_up() {
	local n=$1 d=$AT/$1
	mkdir -p "$d/root"
	local env
	env=$("$AGENT" init --root "$d/root" --listen 127.0.0.1:0 --state "$d/state")
	agent_serve "$n"
	ctl_ok "$MNT/instances/ctl" "add $n http://127.0.0.1:$(cat "$d/port") env=$env"
	local secret
	secret=$(sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p' <<<"$outcome")
	"$AGENT" pair "$(cat "$MNT/self/env_id")" "$secret" --state "$d/state" >/dev/null
	wait_for 10 grep -qx online "$MNT/instances/$n/status"
}

# agent_serve NAME — (re)start NAME's agent; its pid in AT/NAME/pid
agent_serve() {
	local d=$AT/$1
	: >"$d/agent.log"
	"$AGENT" serve --state "$d/state" 2>"$d/agent.log" 3>&- &
	AGENTS+=($!)
	echo $! >"$d/pid"
	wait_for 10 grep -q 'listening on .*(port [0-9]*, ' "$d/agent.log"
	sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$d/agent.log" | head -1 >"$d/port"
}

# every regular file's hash, mode and relative path, and every symlink
tree_sig() {
	(cd "$1" && find . -path '*.cloudfs-conflict-*' -prune -o \( -type f -printf '%m ' -exec sha256sum {} \; \) -o \
		\( -type l -printf 'L %p -> %l\n' \) -o \( -type d -printf 'D %m %p\n' \) | sort)
}

sync_ok() { ctl_ok "$MNT/mirrors/ctl" "sync $*"; }

# old_copies SUB — B/SUB gets an old copy ("old N", "old large") of every
# file in A/SUB, older than the source (so no conflict copies)
old_copies() {
	local f
	for f in "$A/$1"/*; do
		f=${f##*/}
		echo "old ${f#f}" >"$B/$1/$f"
	done
	touch -d '2001-01-01' "$B/$1"/*
}

# old_or_new SUB ROUND — after a kill: every real name in B/SUB holds its
# old copy or the whole new file, and nothing else is there but hidden temps
old_or_new() {
	local f others
	for f in "$A/$1"/*; do
		f=${f##*/}
		cmp -s "$A/$1/$f" "$B/$1/$f" || grep -qx "old ${f#f}" "$B/$1/$f" ||
			{ echo "round $2: $f is neither old nor new"; return 1; }
	done
	others=$(ls -A "$B/$1" | grep -vxF -f <(ls -A "$A/$1") | grep -v '^\.cloudfs-tmp-' || true)
	[ -z "$others" ] || { echo "round $2: unexpected $others"; return 1; }
}

gen_tree() {
	local r=$1
	mkdir -p "$r/www/d1/d2/d3" "$r/www/empty-dir"
	: >"$r/www/empty"
	echo hello >"$r/www/d1/hello.txt"
	head -c 100000000 /dev/urandom >"$r/www/d1/d2/big.bin"
	echo spaced >"$r/www/with space"
	echo nl >"$r/www/new"$'\n'"line"
	echo q >"$r/www/quo\"te's"
	echo bs >"$r/www/back\\slash"
	printf 'x' >"$r/www/d1/d2/d3/x"
	ln -s d1/hello.txt "$r/www/link"
	ln -s ../../outside "$r/www/d1/dangling"
	chmod 0600 "$r/www/d1/hello.txt"
	chmod 0750 "$r/www/d1/d2"
	chmod 0755 "$r/www/empty"
	touch -d '2020-01-02 03:04:05' "$r/www/d1/hello.txt"
}

@test "mirrors: a generated tree syncs exactly (diff -r, hashes, modes, mtimes, symlinks)" {
	gen_tree "$A"
	sync_ok "a:www b:/copy/www"
	[[ $outcome == *job=* ]]
	diff -r --no-dereference "$A/www" "$B/copy/www"
	[ "$(tree_sig "$A/www")" = "$(tree_sig "$B/copy/www")" ]
	[ "$(stat -c %Y "$B/copy/www/d1/hello.txt")" = "$(stat -c %Y "$A/www/d1/hello.txt")" ]
	[ "$(readlink "$B/copy/www/d1/dangling")" = ../../outside ]
	# no temp files left
	[ -z "$(find "$B" -name '.cloudfs-tmp-*')" ]
	# the job: progress and summary
	local job=${outcome##*job=}
	job=${job%% *}
	grep -q '^files 10/10 bytes 100000[0-9]*/100000[0-9]* rate' "$MNT/jobs/$job/progress"
	grep -q 'summary: 10 files' "$MNT/jobs/$job/log"
	# a second run moves nothing
	sync_ok "a:www b:copy/www"
	job=${outcome##*job=}
	grep -q 'summary: 0 files and 0 bytes' "$MNT/jobs/${job%% *}/log"
	
}

@test "mirrors: plan classes after edits on both sides; conflict copy; delete=yes" {
	mkdir -p "$A/p" "$B/p"
	for f in same changed newer gone; do echo "$f" >"$A/p/$f"; done
	sync_ok "a:p b:p"
	ctl_ok "$MNT/mirrors/ctl" "add m1 a:p b:p mode=pull interval=1h"
	echo new >"$A/p/new"
	touch -d '2001-01-01' "$B/p/changed"
	echo changed2 >"$A/p/changed"
	echo theirs >"$B/p/newer"
	touch -d '2030-01-01' "$B/p/newer"
	echo mine >"$A/p/newer"
	touch -d '2020-01-01' "$A/p/newer"
	echo extra >"$B/p/extra"
	rm "$A/p/gone"
	ctl_ok "$MNT/mirrors/m1/ctl" check
	cat "$MNT/mirrors/m1/plan"
	grep -qx 'same 5 same' "$MNT/mirrors/m1/plan"
	grep -qx 'new 4 new' "$MNT/mirrors/m1/plan"
	grep -qx 'changed 9 changed' "$MNT/mirrors/m1/plan"
	grep -qx 'dest-newer 5 newer' "$MNT/mirrors/m1/plan"
	grep -qx 'extra 6 extra' "$MNT/mirrors/m1/plan"
	grep -qx 'extra 5 gone' "$MNT/mirrors/m1/plan"
	grep -qx '# total new 1 paths 4 bytes' "$MNT/mirrors/m1/plan"
	[ "$(cat "$MNT/mirrors/m1/status")" = needs-sync ]
	[ "$(json_get "$MNT/mirrors/m1/plan.json" totals.extra.paths)" = 2 ]
	ctl_ok "$MNT/mirrors/m1/ctl" sync
	[ "$(cat "$B/p/newer")" = mine ]
	ls "$B/p/"newer.cloudfs-conflict-*-a
	[ "$(cat "$B/p/"newer.cloudfs-conflict-*-a)" = theirs ]
	[ -e "$B/p/extra" ]       # no delete without delete=yes
	[ "$(cat "$MNT/mirrors/m1/status")" = in-sync ]
	sync_ok "a:p b:p delete=yes"
	[ ! -e "$B/p/extra" ] && [ ! -e "$B/p/gone" ]
	ls "$B/p/"newer.cloudfs-conflict-*-a   # conflict copies are never deleted
	ctl_ok "$MNT/mirrors/ctl" "remove m1"
	[ ! -e "$MNT/mirrors/m1" ]
}

@test "mirrors: the mass-deletion guard fires without force=yes" {
	mkdir -p "$A/g" "$B/g"
	for i in 1 2 3 4 5 6; do echo "$i" >"$B/g/f$i"; done
	echo keep >"$A/g/f1"
	ctl_fails EINVAL "$MNT/mirrors/ctl" "sync a:g b:g delete=yes"
	[[ $outcome == *force=yes* ]]
	[ -e "$B/g/f6" ]
	sync_ok "a:g b:g delete=yes force=yes"
	[ "$(ls "$B/g")" = f1 ]
}

@test "mirrors: excludes follow .gitignore (table)" {
	# pattern | path | copied?
	local table="
*.log|x.log|no
*.log|sub/y.log|no
/top|top|no
/top|sub/top|yes
build/|build/f|no
build/|sub/build/f|no
build/|file-build|yes
a/b|a/b|no
a/b|z/a/b|yes
**/tmp|q/r/tmp/f|no
doc/**|doc/x/y|no
keep*|keep1|no
"
	local i=0 pat path want
	while IFS='|' read -r pat path want; do
		[ -n "$pat" ] || continue
		i=$((i + 1))
		mkdir -p "$A/ex$i/$(dirname "$path")"
		echo data >"$A/ex$i/$path"
		sync_ok "a:ex$i b:ex$i exclude=$pat"
		if [ "$want" = yes ]; then
			[ -e "$B/ex$i/$path" ] || { echo "case $i: $pat $path should be copied"; false; }
		else
			[ ! -e "$B/ex$i/$path" ] || { echo "case $i: $pat $path should be excluded"; false; }
		fi
	done <<<"$table"
}

@test "mirrors: eol=normalize treats CRLF and LF copies as the same" {
	mkdir -p "$A/e" "$B/e"
	printf 'one\r\ntwo\r\n' >"$A/e/t.txt"
	printf 'one\ntwo\n' >"$B/e/t.txt"
	printf 'b\0\r\n' >"$A/e/bin"
	printf 'b\0\n' >"$B/e/bin"
	touch -d '2001-01-01' "$B/e/bin"
	ctl_ok "$MNT/mirrors/ctl" "add e1 a:e b:e mode=pull eol=normalize"
	ctl_ok "$MNT/mirrors/e1/ctl" check
	grep -qx 'same 10 t.txt' "$MNT/mirrors/e1/plan"
	grep -q '^changed 4 bin$' "$MNT/mirrors/e1/plan"
	sync_ok "a:e b:e eol=normalize"
	[ "$(cat "$B/e/t.txt")" = "$(printf 'one\ntwo\n')" ]   # never rewritten when equal
	cmp "$A/e/bin" "$B/e/bin"
}

@test "mirrors: a killed agent mid-transfer leaves no partial file at a real name" {
	mkdir -p "$A/k"
	head -c 60000000 /dev/urandom >"$A/k/big"
	echo old >"$B/k-old" 2>/dev/null || true
	mkdir -p "$B/k"
	echo previous >"$B/k/big"
	ctl_ok "$MNT/mirrors/ctl" "sync a:k b:k wait=no"
	local job=${outcome##*job=}
	job=${job%% *}
	sleep 0.3
	kill -KILL "$(cat "$AT/b/pid")"
	# the transfer rides out a dropped connection for about 30 s first
	wait_for 60 grep -qE 'ok|error' "$MNT/jobs/$job/status"
	# the real name holds the old content or the whole new one, never a part
	if ! cmp -s "$A/k/big" "$B/k/big"; then
		[ "$(cat "$B/k/big")" = previous ]
	fi
	agent_serve b
	# the instance's URL changed port: re-add is not needed for the check below
	[ -z "$(find "$B/k" -maxdepth 1 -name big -size -1c)" ]
}

@test "mirrors: permissions, bad input, persistence across a remount" {
	ctl_fails EINVAL "$MNT/mirrors/ctl" "sync a:../x b:y"
	ctl_fails EINVAL "$MNT/mirrors/ctl" "sync a:x b"
	ctl_fails ENOENT "$MNT/mirrors/ctl" "sync nosuch:x b:y"
	ctl_fails EINVAL "$MNT/mirrors/ctl" "add m a:x a:x/y"
	ctl_fails EINVAL "$MNT/mirrors/ctl" "add m a:x b:y mode=sideways"
	ctl_fails EINVAL "$MNT/mirrors/ctl" "add m a:x b:y exclude=[bad"
	ctl_ok "$MNT/mirrors/ctl" "add keep a:x b:y mode=pull interval=10m exclude=*.tmp,/cache/"
	ctl_fails EEXIST "$MNT/mirrors/ctl" "add keep a:x b:z"
	grep -qx 'mode pull' "$MNT/mirrors/keep/config"
	grep -qx 'interval 600s' "$MNT/mirrors/keep/config"
	# a user without sync on the instances sees nothing
	[ -z "$(as_user "$BOB" ls "$MNT/mirrors" | grep keep)" ]
	as_user "$BOB" ctl_fails ENOENT "$MNT/mirrors/ctl" "sync a:x b:y"
	# a sharee with perms=read on the destination cannot sync into it
	ctl_ok "$MNT/shares/ctl" "share $BOB instance=a perms=read,sync" 2>/dev/null ||
		ctl_ok "$MNT/shares/ctl" "add $BOB instance=a perms=read,sync"
	ctl_ok "$MNT/shares/ctl" "add $BOB instance=b perms=read"
	as_user "$BOB" ctl_fails EACCES "$MNT/mirrors/ctl" "sync a:x b:y"
	cfs_remount -o poll.interval=1s -o poll.timeout=10s
	grep -qx 'exclude "\*.tmp,/cache/"' "$MNT/mirrors/keep/config" ||
		grep -q 'exclude' "$MNT/mirrors/keep/config"
	ctl_ok "$MNT/mirrors/keep/ctl" disable
	grep -qx 'enabled no' "$MNT/mirrors/keep/config"
}

@test "mirrors: a push mirror follows the source within seconds; events and metrics" {
	mkdir -p "$A/live"
	echo one >"$A/live/f1"
	exec 4<"$MNT/events"
	ctl_ok "$MNT/mirrors/ctl" "add live a:live c:live"
	grep -qx 'mode push' "$MNT/mirrors/live/config"
	wait_for 30 test -e "$C/live/f1"
	# the source's agent watches the tree; the manager long-polls it
	wait_for 20 eval '[ "$(json_get "$MNT/mirrors/live/status.json" watching)" = true ]'
	echo two >"$A/live/f2"
	wait_for 30 test -e "$C/live/f2"
	# a burst of writes is gathered into few syncs
	local before after i
	before=$(ls "$MNT/jobs" | grep -c '^[0-9]')
	mkdir "$A/live/burst"
	for i in $(seq 1 60); do echo "$i" >"$A/live/burst/f$i"; done
	wait_for 30 test -e "$C/live/burst/f60"
	wait_for 30 eval '[ "$(ls "$C/live/burst" | wc -l)" = 60 ]'
	after=$(ls "$MNT/jobs" | grep -c '^[0-9]')
	echo "sync jobs for the burst: $((after - before))"
	((after - before <= 6))
	# a change to a file's content, and a deletion is not propagated without delete=yes
	echo changed >"$A/live/f1"
	wait_for 30 grep -qx changed "$C/live/f1"
	wait_for 30 grep -qx in-sync "$MNT/mirrors/live/status"
	[ "$(json_get "$MNT/mirrors/live/status.json" status)" = in-sync ]
	timeout 5 grep -m1 -q '"type":"mirror.status"' <&4
	exec 4<&-
	grep -q '^cloudfs_mirror_files_synced_total [1-9]' "$MNT/metrics"
	grep -q '^cloudfs_mirror_bytes_synced_total [1-9]' "$MNT/metrics"
	grep -q '^cloudfs_mirrors{status="in-sync"} [1-9]' "$MNT/metrics"
}

@test "mirrors: a cp into /mirrors/NAME/files/ reaches the destination at once" {
	mkdir -p "$A/site"
	echo old >"$A/site/index.html"
	ctl_ok "$MNT/mirrors/ctl" "add site a:site c:site mode=pull interval=1h"
	ctl_ok "$MNT/mirrors/site/ctl" sync
	[ "$(cat "$C/site/index.html")" = old ]
	# the source tree, read and written through the mount
	[ "$(cat "$MNT/mirrors/site/files/index.html")" = old ]
	echo new-page >"$CFS_TMP/page"
	cp "$CFS_TMP/page" "$MNT/mirrors/site/files/page.html"
	[ "$(cat "$A/site/page.html")" = new-page ]
	# no interval has passed: the close itself sent it on
	wait_for 20 test -e "$C/site/page.html"
	[ "$(cat "$C/site/page.html")" = new-page ]
	wait_for 20 grep -qx in-sync "$MNT/mirrors/site/status"
}

@test "mirrors: a large changed file moves as a delta (in place and with an insertion)" {
	mkdir -p "$A/dl"
	head -c 64000000 /dev/urandom >"$A/dl/big"
	sync_ok "a:dl b:dl"
	cmp "$A/dl/big" "$B/dl/big"
	# 1 MB changed in the middle
	head -c 1000000 /dev/urandom | dd of="$A/dl/big" bs=1000 seek=30000 conv=notrunc status=none
	sync_ok "a:dl b:dl"
	cmp "$A/dl/big" "$B/dl/big"
	local job=${outcome##*job=} sent
	job=${job%% *}
	grep summary "$MNT/jobs/$job/log"
	sent=$(sed -n 's/.*copied (\([0-9]*\) bytes sent).*/\1/p' "$MNT/jobs/$job/log")
	echo "sent $sent bytes for 1000000 changed"
	((sent > 1000000 && sent < 3000000))
	# 100 bytes inserted near the start shift everything after them
	{ head -c 5000 "$A/dl/big"; echo 'inserted line of text, a hundred bytes or so, to shift the content'; tail -c +5001 "$A/dl/big"; } >"$CFS_TMP/shifted"
	mv "$CFS_TMP/shifted" "$A/dl/big"
	sync_ok "a:dl b:dl"
	cmp "$A/dl/big" "$B/dl/big"
	job=${outcome##*job=}
	job=${job%% *}
	sent=$(sed -n 's/.*copied (\([0-9]*\) bytes sent).*/\1/p' "$MNT/jobs/$job/log")
	echo "sent $sent bytes after an insertion"
	((sent < 2000000))
	# the conflict copy of a large file is made on the destination alone
	head -c 1000 /dev/urandom | dd of="$B/dl/big" bs=1000 seek=100 conv=notrunc status=none
	touch -d '2035-01-01' "$B/dl/big"
	cp "$B/dl/big" "$CFS_TMP/theirs"
	head -c 1000 /dev/urandom | dd of="$A/dl/big" bs=1000 seek=200 conv=notrunc status=none
	sync_ok "a:dl b:dl"
	cmp "$A/dl/big" "$B/dl/big"
	cmp "$CFS_TMP/theirs" "$B"/dl/big.cloudfs-conflict-*-a
	job=${outcome##*job=}
	job=${job%% *}
	sent=$(sed -n 's/.*copied (\([0-9]*\) bytes sent).*/\1/p' "$MNT/jobs/$job/log")
	echo "sent $sent bytes for a conflict copy and a 1000-byte change"
	((sent < 2000000))
	[ -z "$(find "$B/dl" -name '.cloudfs-tmp-*')" ]
}

# proxy_up NAME PORT — a TCP relay on PORT to NAME's agent, in its own
# process group (proxy_down kills the relay and every connection it holds)
proxy_up() {
	setsid socat TCP-LISTEN:"$2",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$(cat "$AT/$1/port")" &
	echo $! >"$AT/$1/proxy"
	wait_for 10 eval "(exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null"
}

proxy_down() {
	kill -TERM -- "-$(cat "$AT/$1/proxy")" 2>/dev/null || true
	wait "$(cat "$AT/$1/proxy")" 2>/dev/null || true
}

@test "mirrors: a dropped connection mid-transfer resumes at the chunk that failed" {
	command -v socat >/dev/null || skip "socat is not installed"
	local d=$AT/d port env secret
	mkdir -p "$d/root"
	env=$("$AGENT" init --root "$d/root" --listen 127.0.0.1:0 --state "$d/state")
	agent_serve d
	port=$((20000 + RANDOM % 20000))
	proxy_up d "$port"
	ctl_ok "$MNT/instances/ctl" "add d http://127.0.0.1:$port env=$env"
	secret=$(sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p' <<<"$outcome")
	"$AGENT" pair "$(cat "$MNT/self/env_id")" "$secret" --state "$d/state" >/dev/null
	wait_for 10 grep -qx online "$MNT/instances/d/status"
	mkdir -p "$A/rs"
	head -c 120000000 /dev/urandom >"$A/rs/big"
	ctl_ok "$MNT/mirrors/ctl" "sync a:rs d:rs wait=no"
	local job=${outcome##*job=}
	job=${job%% *}
	# cut every connection once some of the file has arrived, for 3 s
	wait_for 60 eval "grep -q 'bytes [1-9][0-9]\{7\}/' '$MNT/jobs/$job/progress'"
	proxy_down d
	sleep 3
	proxy_up d "$port"
	wait_for 90 grep -qE '^(ok|error|failed)' "$MNT/jobs/$job/status"
	cat "$MNT/jobs/$job/status" "$MNT/jobs/$job/log"
	grep -q '^ok' "$MNT/jobs/$job/status"
	cmp "$A/rs/big" "$d/root/rs/big"
	local sent
	sent=$(sed -n 's/.*copied (\([0-9]*\) bytes sent).*/\1/p' "$MNT/jobs/$job/log")
	echo "sent $sent bytes for a 120000000-byte file"
	# at most the chunk in flight (4 MiB) is sent twice
	((sent >= 120000000 && sent <= 120000000 + 2 * 4194304))
	proxy_down d
}

@test "mirrors: a manager killed at 20 random points never leaves a part at a real name" {
	mkdir -p "$A/kt" "$B/kt"
	local i n
	for i in 1 2 3 4 5 6 7 8; do
		head -c $((1000000 + i * 500000)) /dev/urandom >"$A/kt/f$i"
	done
	head -c 30000000 /dev/urandom >"$A/kt/large"
	for n in $(seq 1 20); do
		# every round starts from the old copies, so there is always work to cut
		old_copies kt
		wait_for 20 grep -qx online "$MNT/instances/a/status"
		wait_for 20 grep -qx online "$MNT/instances/b/status"
		ctl_ok "$MNT/mirrors/ctl" "sync a:kt b:kt wait=no"
		sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
		kill -KILL "$CFS_PID"
		wait "$CFS_PID" 2>/dev/null || true
		fusermount3 -u -z "$MNT" 2>/dev/null || true
		CFS_PID=
		old_or_new kt "$n"
		cfs_mount -o poll.interval=1s -o poll.timeout=10s
	done
	wait_for 20 grep -qx online "$MNT/instances/b/status"
	sync_ok "a:kt b:kt"
	for i in 1 2 3 4 5 6 7 8; do cmp "$A/kt/f$i" "$B/kt/f$i"; done
	cmp "$A/kt/large" "$B/kt/large"
	# the killed runs' temp files go at the next listing once stale: restart
	# b on the same port with tmp_sweep_after = 1s
	echo "temp files left by the kills: $(find "$B/kt" -name '.cloudfs-tmp-*' | wc -l)"
	kill -TERM "$(cat "$AT/b/pid")"
	wait "$(cat "$AT/b/pid")" 2>/dev/null || true
	sed -i -e "s/^listen = .*/listen = 127.0.0.1:$(cat "$AT/b/port")/" \
		-e 's/^\[agent\]$/[agent]\ntmp_sweep_after = 1s/' "$AT/b/state/agent.conf"
	agent_serve b
	sleep 1.2
	wait_for 20 grep -qx online "$MNT/instances/b/status"
	sync_ok "a:kt b:kt"
	[ -z "$(find "$B/kt" -name '.cloudfs-tmp-*')" ]
}

@test "mirrors: a destination agent killed at 20 random points never leaves a part at a real name" {
	mkdir -p "$A/ka" "$B/ka"
	local i n job
	for i in 1 2 3 4; do
		head -c $((300000 + i * 700000)) /dev/urandom >"$A/ka/f$i"
	done
	head -c 20000000 /dev/urandom >"$A/ka/large"    # five 4 MiB chunks
	# b keeps its port across restarts, so the manager's retries find it again
	kill -TERM "$(cat "$AT/b/pid")"
	wait "$(cat "$AT/b/pid")" 2>/dev/null || true
	sed -i -e "s/^listen = .*/listen = 127.0.0.1:$(cat "$AT/b/port")/" "$AT/b/state/agent.conf"
	agent_serve b
	for n in $(seq 1 20); do
		# every round starts from the old copies, so there is always work to cut
		old_copies ka
		wait_for 20 grep -qx online "$MNT/instances/b/status"
		ctl_ok "$MNT/mirrors/ctl" "sync a:ka b:ka wait=no"
		job=${outcome##*job=}
		job=${job%% *}
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
		kill -KILL "$(cat "$AT/b/pid")"
		wait "$(cat "$AT/b/pid")" 2>/dev/null || true
		old_or_new ka "$n"
		agent_serve b
		# the job rides out the restart (or fails cleanly) before the next round
		wait_for 60 grep -qE 'ok|error' "$MNT/jobs/$job/status"
	done
	sync_ok "a:ka b:ka"
	for i in 1 2 3 4; do cmp "$A/ka/f$i" "$B/ka/f$i"; done
	cmp "$A/ka/large" "$B/ka/large"
}
