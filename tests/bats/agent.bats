#!/usr/bin/env bats
# cloudfs-agent alone, no mount: init, pair and serve on 127.0.0.1, driven
# with curl and cfs-sign (the signing helper); traversal, replayed, re-timed,
# re-hosted and tampered requests, the command allow-list, a clean stop.

load ../lib/common

AGENT=${CLOUDFS_AGENT:-$CFS_ROOT/build/tools/cloudfs-agent}
SIGN=${CFS_SIGN:-$CFS_ROOT/build/tests/unit/wire/cfs-sign}
MGR=7a1c0d2e-5b6f-4a8d-9c3e-1f2a3b4c5d6e

setup() {
	[ -x "$AGENT" ] || skip "no $AGENT: build first (or set CLOUDFS_AGENT)"
	[ -x "$SIGN" ] || skip "no $SIGN: build first (or set CFS_SIGN)"
	T=$(mktemp -d)
	ROOT=$T/root
	ST=$T/state
	mkdir -p "$ROOT"
	SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	APID=
}

teardown() {
	if [ -n "$APID" ] && kill -0 "$APID" 2>/dev/null; then
		kill -TERM "$APID"
		wait "$APID" || true
	fi
	rm -rf "$T"
}

# ---- helpers named after the interface ----

agent_init() { ENV_ID=$("$AGENT" init --root "$ROOT" --listen 127.0.0.1:0 --state "$ST"); }
agent_pair() { "$AGENT" pair "$MGR" "${1:-$SECRET}" --state "$ST"; }

# append to agent.conf
agent_conf() { printf '%s\n' "$@" >>"$ST/agent.conf"; }

agent_start() {
	"$AGENT" serve --state "$ST" 2>"$T/agent.log" &
	APID=$!
	wait_for 10 grep -q 'listening on .*(port [0-9]*, ' "$T/agent.log"
	PORT=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$T/agent.log" | head -1)
	HOST=127.0.0.1:$PORT
}

# agent_stop — SIGTERM, the exit status in STOP_STATUS
agent_stop() {
	kill -TERM "$APID"
	STOP_STATUS=0
	wait "$APID" || STOP_STATUS=$?
	APID=
}

# sign METHOD TARGET [BODYFILE [HOST]] — the X-Cloudfs-* headers as curl arguments in SIG
sign() {
	local args=(--secret "$SECRET" --env "$MGR" --method "$1" --target "$2" --host "${4:-$HOST}")
	[ -z "${3:-}" ] || args+=(--body "$3")
	mapfile -t SIG < <("$SIGN" "${args[@]}")
	NONCE=$(printf '%s\n' "${SIG[@]}" | sed -n 's/^X-Cloudfs-Nonce: //p')
}

# send METHOD TARGET BODYFILE [CURL-ARG…] — send as given; CODE, $T/body, $T/hdrs
send() {
	local m=$1 t=$2 b=$3
	shift 3
	local data=()
	[ -z "$b" ] || data=(--data-binary "@$b")
	CODE=$(curl -s -X "$m" -D "$T/hdrs" -o "$T/body" -w '%{http_code}' "$@" "${data[@]}" \
		"http://$HOST$t")
}

# call METHOD TARGET [BODYFILE] — a signed request whose signed answer verifies
call() {
	sign "$1" "$2" "${3:-}"
	send "$1" "$2" "${3:-}" "${SIG[@]}"
	"$SIGN" response --secret "$SECRET" --nonce "$NONCE" --headers "$T/hdrs" --body "$T/body"
}

# expect CODE [ERROR] — the last answer's status, and its "error" member
expect() {
	if [ "$CODE" != "$1" ]; then
		echo "want $1, got $CODE: $(cat "$T/body")" >&2
		return 1
	fi
	[ -z "${2:-}" ] || [ "$(json_get "$T/body" error)" = "$2" ]
}

body() { cat "$T/body"; }

# no_temp_files DIR — no write session left a temp file there
no_temp_files() { [ -z "$(find "$1" -maxdepth 1 -name '.cloudfs-tmp-*')" ]; }

# XXH3-128 of a file as the agent wants it (the canonical big-endian hex)
xxh128() { xxh128sum "$1" | cut -d' ' -f1; }

running_agent() {
	agent_init
	agent_pair
	agent_start
}

# ---- command line ----

@test "agent: --help and --version on every form" {
	for form in "" init pair serve; do
		run "$AGENT" $form --help
		[ "$status" -eq 0 ]
		[[ $output == *"cloudfs-agent init --root DIR --listen ADDR:PORT"* ]]
		run "$AGENT" $form --version
		[ "$status" -eq 0 ]
		[[ $output == "cloudfs-agent "[0-9]* ]]
	done
	run "$AGENT" frobnicate
	[ "$status" -eq 2 ]
	run "$AGENT"
	[ "$status" -eq 2 ]
}

@test "agent: init mints an env_id, writes the state, refuses to overwrite it" {
	run "$AGENT" init --root "$ROOT" --listen 127.0.0.1:7001 --state "$ST"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	[ "$(cat "$ST/env_id")" = "${lines[0]}" ]
	[ "$(stat -c %a "$ST")" = 700 ]
	[ "$(stat -c %a "$ST/master.key")" = 600 ]
	[ "$(stat -c %s "$ST/master.key")" = 32 ]
	grep -q "^root = $(realpath "$ROOT")\$" "$ST/agent.conf"
	grep -q '^listen = 127.0.0.1:7001$' "$ST/agent.conf"
	grep -q '^# \[command.restart\]$' "$ST/agent.conf"
	run "$AGENT" init --root "$ROOT" --listen 127.0.0.1:7001 --state "$ST"
	[ "$status" -eq 1 ]
	[[ $output == *"already holds an agent"* ]]
	run "$AGENT" init --root "$T/missing" --listen 127.0.0.1:7001 --state "$T/s2"
	[ "$status" -eq 1 ]
	run "$AGENT" init --root "$ROOT" --state "$T/s3"
	[ "$status" -eq 2 ]
}

@test "agent: pair stores the secret sealed and checks its input" {
	agent_init
	run agent_pair
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$ST/pair")" = 600 ]
	refute grep -q "$SECRET" "$ST/pair"
	grep -q "^manager $MGR\$" "$ST/pair"
	run "$AGENT" pair "$MGR" abcdef --state "$ST"
	[ "$status" -eq 1 ]
	[[ $output == *"64 hex"* ]]
	run "$AGENT" pair "$MGR" --state "$ST"
	[ "$status" -eq 2 ]
	run "$AGENT" pair "$MGR" "$SECRET" --state "$T/nothing"
	[ "$status" -eq 1 ]
	[[ $output == *"cloudfs-agent init"* ]]
}

@test "agent: serve answers signed requests with signed answers" {
	running_agent
	call GET /v1/health
	expect 200
	[ "$(json_get "$T/body" mem_total)" -gt 0 ]
	[ "$(json_get "$T/body" disk_total)" -gt 0 ]
	json_get "$T/body" load1
	call GET /v1/info
	expect 200
	[ "$(json_get "$T/body" env_id)" = "$ENV_ID" ]
	[ "$(json_get "$T/body" hostname)" = "$(hostname)" ]
	[ "$(json_get "$T/body" kernel)" = "$(uname -r)" ]
	call GET /v1/nothing
	expect 404 not_found
}

@test "agent: an unpaired agent refuses everything" {
	agent_init
	agent_start
	grep -q 'not paired yet' "$T/agent.log"
	sign GET /v1/health
	send GET /v1/health "" "${SIG[@]}"
	expect 401 unknown_env
	# pairing while it serves takes effect without a restart
	agent_pair
	call GET /v1/health
	expect 200
}

@test "agent: files round trip through stat, readdir, read and a write session" {
	command -v xxh128sum >/dev/null || skip "no xxh128sum (package xxhash)"
	running_agent
	mkdir "$ROOT/dir"
	printf 'hello\n' >"$ROOT/dir/a.txt"
	call GET '/v1/file/stat?path=dir%2Fa.txt'
	expect 200
	[ "$(json_get "$T/body" stat.size)" = 6 ]
	[ "$(json_get "$T/body" stat.type)" = file ]
	call GET '/v1/file/readdir?path=dir'
	expect 200
	[ "$(json_get "$T/body" entries.0.name)" = a.txt ]
	call GET '/v1/file/read?path=dir%2Fa.txt&offset=1&length=3'
	expect 200
	[ "$(body)" = ell ]

	# a new file in two chunks, each with its hash, then a verified commit
	call POST '/v1/file/open?path=dir%2Fnew.bin&create=1&excl=1&mode=0640'
	expect 201
	sid=$(json_get "$T/body" session)
	head -c 100000 /dev/urandom >"$T/c1"
	head -c 50000 /dev/urandom >"$T/c2"
	call PUT "/v1/file/write?session=$sid&offset=0&xxh128=$(xxh128 "$T/c1")" "$T/c1"
	expect 200
	call PUT "/v1/file/write?session=$sid&offset=100000&xxh128=$(xxh128 "$T/c1")" "$T/c2"
	expect 400 bad_hash
	call PUT "/v1/file/write?session=$sid&offset=100000&xxh128=$(xxh128 "$T/c2")" "$T/c2"
	expect 200
	cat "$T/c1" "$T/c2" >"$T/whole"
	# nothing lands before the commit
	[ "$(stat -c %s "$ROOT/dir/new.bin")" = 0 ]
	call POST "/v1/file/commit?session=$sid&xxh128=00000000000000000000000000000000"
	expect 409 bad_hash
	call POST "/v1/file/commit?session=$sid&xxh128=$(xxh128 "$T/whole")"
	expect 200
	cmp "$T/whole" "$ROOT/dir/new.bin"
	[ "$(stat -c %a "$ROOT/dir/new.bin")" = 640 ]
	no_temp_files "$ROOT/dir"

	call POST '/v1/file/rename?path=dir%2Fnew.bin&to=dir%2Fa.txt&noreplace=1'
	expect 409 fs_error
	[ "$(json_get "$T/body" errno)" = EEXIST ]
	call POST '/v1/file/rename?path=dir%2Fnew.bin&to=moved.bin'
	expect 200
	cmp "$T/whole" "$ROOT/moved.bin"
	call POST '/v1/file/rmdir?path=dir'
	expect 409 fs_error
	[ "$(json_get "$T/body" errno)" = ENOTEMPTY ]
}

@test "agent: paths leaving the root are refused with 403" {
	running_agent
	ln -s /etc "$ROOT/etc"
	ln -s ../.. "$ROOT/up"
	for target in \
		'/v1/file/stat?path=..' \
		'/v1/file/stat?path=%2Fetc%2Fpasswd' \
		'/v1/file/read?path=..%2F..%2Fetc%2Fpasswd' \
		'/v1/file/read?path=etc%2Fpasswd' \
		'/v1/file/read?path=up%2Fetc%2Fpasswd' \
		'/v1/file/readdir?path=up%2Fetc' \
		'/v1/file/stat?path=a%00b'; do
		call GET "$target"
		expect 403 outside_root
		[ "$(json_get "$T/body" errno)" = EACCES ]
	done
	call POST '/v1/file/open?path=etc%2Fshadow&create=1'
	expect 403 outside_root
	call POST '/v1/file/rename?path=up&to=..%2Fx'
	expect 403 outside_root
	# the links themselves are fine to look at, never through
	call GET '/v1/file/readdir?path=etc'
	expect 400 fs_error
	[ "$(json_get "$T/body" errno)" = ENOTDIR ]
	call GET '/v1/file/readlink?path=etc'
	expect 200
	[ "$(json_get "$T/body" target)" = /etc ]
}

@test "agent: replayed, re-timestamped, re-hosted, tampered and stale requests get 401" {
	running_agent
	sign GET /v1/health
	send GET /v1/health "" "${SIG[@]}"
	expect 200
	# the same request again
	send GET /v1/health "" "${SIG[@]}"
	expect 401 replay
	# a new timestamp on the old signature
	sign GET /v1/health
	retimed=()
	for h in "${SIG[@]}"; do
		[[ $h == X-Cloudfs-Timestamp:* ]] && h="X-Cloudfs-Timestamp: $(($(date +%s) * 1000 + 1))"
		retimed+=("$h")
	done
	send GET /v1/health "" "${retimed[@]}"
	expect 401 bad_signature
	# signed for another host
	sign GET /v1/health "" "other.example:$PORT"
	send GET /v1/health "" "${SIG[@]}"
	expect 401 bad_signature
	# sent to another Host than signed for
	sign GET /v1/health
	send GET /v1/health "" "${SIG[@]}" -H "Host: other.example:$PORT"
	expect 401 bad_signature
	# another target than signed
	sign GET '/v1/file/stat?path=a'
	send GET '/v1/file/stat?path=b' "" "${SIG[@]}"
	expect 401 bad_signature
	# another body than signed
	echo '{"name":"hello"}' >"$T/b1"
	echo '{"name":"evil!"}' >"$T/b2"
	sign POST /v1/exec "$T/b1"
	send POST /v1/exec "$T/b2" "${SIG[@]}"
	expect 401 bad_signature
	# another method than signed
	sign GET /v1/exec
	send POST /v1/exec "" "${SIG[@]}"
	expect 401 bad_signature
	# a timestamp outside the window
	mapfile -t SIG < <("$SIGN" --secret "$SECRET" --env "$MGR" --method GET --target /v1/health \
		--host "$HOST" --timestamp $((($(date +%s) - 600) * 1000)))
	send GET /v1/health "" "${SIG[@]}"
	expect 401 stale_timestamp
	# a wrong secret, an unknown sender, no headers at all
	good=$SECRET
	SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	sign GET /v1/health
	send GET /v1/health "" "${SIG[@]}"
	expect 401 bad_signature
	SECRET=$good
	mapfile -t SIG < <("$SIGN" --secret "$SECRET" --env 99999999-9999-4999-8999-999999999999 \
		--method GET --target /v1/health --host "$HOST")
	send GET /v1/health "" "${SIG[@]}"
	expect 401 unknown_env
	send GET /v1/health ""
	expect 400
	# and a good one still works after all that
	call GET /v1/health
	expect 200
}

@test "agent: re-pairing replaces the secret at once" {
	running_agent
	call GET /v1/health
	expect 200
	old=$SECRET
	SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	agent_pair "$SECRET"
	call GET /v1/health
	expect 200
	SECRET=$old
	sign GET /v1/health
	send GET /v1/health "" "${SIG[@]}"
	expect 401
}

@test "agent: allow-listed commands run, others are refused" {
	agent_init
	agent_pair
	agent_conf '[command.hello]' "argv = echo hello 'from the agent'" \
		'[command.say]' 'argv = echo' 'extra_args = yes' \
		'[command.slow]' 'argv = sleep 20' 'timeout = 1s'
	agent_start
	echo '{"name":"hello"}' >"$T/b"
	call POST /v1/exec "$T/b"
	expect 200
	[ "$(json_get "$T/body" output)" = "hello from the agent" ]
	[ "$(json_get "$T/body" exit_code)" = 0 ]
	echo '{"name":"rm","args":["-rf","/"]}' >"$T/b"
	call POST /v1/exec "$T/b"
	expect 403 not_allowed
	echo '{"name":"hello","args":["more"]}' >"$T/b"
	call POST /v1/exec "$T/b"
	expect 403 not_allowed
	echo '{"name":"say","args":["$(id)", ";", "*"]}' >"$T/b"
	call POST /v1/exec "$T/b"
	expect 200
	[ "$(json_get "$T/body" output)" = '$(id) ; *' ]
	echo '{"name":"slow"}' >"$T/b"
	SECONDS=0
	call POST /v1/exec "$T/b"
	expect 200
	[ "$(json_get "$T/body" timed_out)" = true ]
	((SECONDS < 10))
	call GET /v1/info
	[ "$(json_get "$T/body" commands)" = '["hello", "say", "slow"]' ]
}

@test "agent: logs and config files by name only" {
	agent_init
	agent_pair
	seq 1 1000 >"$T/app.log"
	printf 'key = value\n' >"$T/app.conf"
	agent_conf '[logs]' "app = $T/app.log" '[config]' "app = $T/app.conf"
	agent_start
	call GET /v1/logs
	expect 200
	[ "$(json_get "$T/body" logs.0.name)" = app ]
	call GET '/v1/logs?name=app&lines=3'
	expect 200
	[ "$(body)" = "$(printf '998\n999\n1000')" ]
	call GET '/v1/logs?name=other'
	expect 404 unknown_log
	call GET '/v1/config?name=app'
	expect 200
	[ "$(body)" = 'key = value' ]
}

@test "agent: a bad agent.conf stops serve with file and line" {
	agent_init
	agent_pair
	agent_conf '[command.x]' 'argv = ls' 'colour = blue'
	run "$AGENT" serve --state "$ST"
	[ "$status" -eq 1 ]
	[[ $output == *"agent.conf:$(grep -n '^colour' "$ST/agent.conf" | cut -d: -f1): unknown key \"colour\""* ]]
}

@test "agent: SIGTERM stops it cleanly" {
	running_agent
	call GET /v1/health
	expect 200
	# a write session left open is cleaned up on the way out
	call POST '/v1/file/open?path=f&create=1'
	expect 201
	if command -v xxh128sum >/dev/null; then
		sid=$(json_get "$T/body" session)
		printf 'pending' >"$T/chunk"
		call PUT "/v1/file/write?session=$sid&offset=0&xxh128=$(xxh128 "$T/chunk")" "$T/chunk"
		expect 200
		refute no_temp_files "$ROOT"
	fi
	agent_stop
	[ "$STOP_STATUS" -eq 0 ]
	grep -q 'signal TERM: stopping' "$T/agent.log"
	grep -q 'stopped$' "$T/agent.log"
	refute grep -qiE 'sanitizer|runtime error|leak' "$T/agent.log"
	no_temp_files "$ROOT"
}
