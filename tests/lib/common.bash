# common.bash — helpers for the cloudfs integration tests (bats).
#
# Load it from a file in tests/bats/ with `load ../lib/common`.  The helpers
# are named after the interface, so a test reads like the design:
#
#   cfs_mount [-o OPT]…        start $CLOUDFS on a fresh MNT with a fresh STATE
#                              (reuses STATE when it is set), wait until mounted
#   cfs_umount                 fusermount3 -u, wait for the process, scan its log
#   cfs_remount [-o OPT]…      cfs_umount then cfs_mount on the same MNT and STATE
#   cfs_mount_other DIR        a second mount at DIR/mnt, state DIR/state
#   cfs_umount_other DIR       stop it (cfs_teardown stops it too)
#   cfs_teardown               stop background helpers, unmount, remove temp dirs
#   ctl_ok FILE CMD            one write of CMD succeeds; last ctl line starts "ok"
#   ctl_fails ERRNO FILE CMD   the write fails with ERRNO; last ctl line "error ERRNO:"
#   write_fails ERRNO FILE DATA   the open or write fails with ERRNO (no outcome check)
#   ctl_write FILE DATA        DATA (verbatim) in exactly one write(2)
#   outcome_key KEY            KEY's value in $outcome, the last outcome line read
#   key_of FILE KEY            the value of a `key value` line of FILE
#   json_get FILE PATH         a value from a JSON file (PATH like roles.0)
#   as_user USER CMD…          run CMD (a command or one of these helpers) as USER
#   cfs_bg [-u USER] CMD…      CMD in the background, stopped by cfs_teardown
#   wait_for SECS CMD…         poll CMD until it succeeds, fail after SECS
#   refute CMD…                CMD must fail
#   tree_state                 what a caller sees of instances/shares/jobs (for
#                              "changes nothing" checks)
#
# Variables: CFS_ROOT (the repository), CLOUDFS (the binary; default
# build/fs/cloudfs under the repository), MNT, STATE, CFS_LOG, CFS_PID, and the
# test users ALICE, BOB, CAROL (real Unix users, made by cfs_users_create),
# CFS_PYTHON (for JSON checks).

CFS_ROOT=${CFS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CLOUDFS=${CLOUDFS:-$CFS_ROOT/build/fs/cloudfs}
ALICE=${ALICE:-cfstest_alice}
BOB=${BOB:-cfstest_bob}
CAROL=${CAROL:-cfstest_carol}
# the system's python (a version manager's shim can cost half a second a call)
if [[ -z ${CFS_PYTHON:-} ]]; then
	if [[ -x /usr/bin/python3 ]]; then CFS_PYTHON=/usr/bin/python3; else CFS_PYTHON=python3; fi
fi

# Sanitizer reports go to the mount's log, where cfs_umount looks for them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

CFS_BG_PIDS=()
CFS_EXTRA_DIRS=()
CFS_OTHERS=()

# ---- small utilities ----

# errno name → the text the C library (and so the shell) prints for it
errno_text() {
	case $1 in
	EINVAL) echo "Invalid argument" ;;
	ENOENT) echo "No such file or directory" ;;
	EEXIST) echo "File exists" ;;
	EACCES) echo "Permission denied" ;;
	EPERM) echo "Operation not permitted" ;;
	ENOSYS) echo "Function not implemented" ;;
	EBUSY) echo "Device or resource busy" ;;
	EINTR) echo "Interrupted system call" ;;
	ECANCELED) echo "Operation canceled" ;;
	EIO) echo "Input/output error" ;;
	EROFS) echo "Read-only file system" ;;
	ENOTSUP | EOPNOTSUPP) echo "Operation not supported" ;;
	ETIMEDOUT) echo "Connection timed out" ;;
	EHOSTUNREACH) echo "No route to host" ;;
	EXDEV) echo "Invalid cross-device link" ;;
	EAGAIN) echo "Resource temporarily unavailable" ;;
	*) echo "unknown errno name $1" >&2; return 1 ;;
	esac
}

# wait_for SECS CMD… — poll CMD every 0.1 s until it succeeds
wait_for() {
	local secs=$1; shift
	local end=$((SECONDS + secs)) tries=$((secs * 10))
	while ((tries-- > 0 && SECONDS <= end)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	"$@"
}

# refute CMD… — CMD must fail (a bare `! cmd` does not fail a bats test)
refute() {
	if "$@"; then
		echo "expected to fail: $*" >&2
		return 1
	fi
	return 0
}

# Alive and not a zombie.
_pid_alive() {
	local st
	st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# ---- users ----

cfs_need_root() {
	[[ $(id -u) -eq 0 ]] || skip "needs root (real test users and allow_other)"
}

# Real Unix users for the permission tests; made once, left in place.
cfs_users_create() {
	[[ $(id -u) -eq 0 ]] || return 0
	local u
	for u in "$ALICE" "$BOB" "$CAROL"; do
		id -u "$u" >/dev/null 2>&1 && continue
		useradd -M -N -s /usr/sbin/nologin "$u" 2>/dev/null || id -u "$u" >/dev/null || return 1
	done
}

_setpriv_argv() {
	local u=$1 uid gid
	uid=$(id -u "$u") && gid=$(id -g "$u") || { echo "no user $u" >&2; return 1; }
	_SETPRIV=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups --)
}

# as_user USER CMD… — CMD as USER; CMD may be one of the helpers here
as_user() {
	local u=$1; shift
	if declare -F "$1" >/dev/null; then
		CFS_USER=$u "$@"
	else
		_setpriv_argv "$u" || return 1
		"${_SETPRIV[@]}" "$@"
	fi
}

# A command, as $CFS_USER when a helper runs under as_user.
_cfs_run() {
	if [[ -n ${CFS_USER:-} ]]; then
		_setpriv_argv "$CFS_USER" || return 1
		"${_SETPRIV[@]}" "$@"
	else
		"$@"
	fi
}

# cfs_bg [-u USER] CMD… — background CMD (its own pid is in CFS_BG_LAST);
# fd 3 is closed so bats does not wait for it
cfs_bg() {
	local argv=()
	if [[ $1 == -u ]]; then
		_setpriv_argv "$2" || return 1
		argv=("${_SETPRIV[@]}")
		shift 2
	elif [[ -n ${CFS_USER:-} ]]; then
		_setpriv_argv "$CFS_USER" || return 1
		argv=("${_SETPRIV[@]}")
	fi
	"${argv[@]}" "$@" 3>&- &
	CFS_BG_LAST=$!
	CFS_BG_PIDS+=("$CFS_BG_LAST")
}

cfs_bg_stop() {
	local p
	for p in "${CFS_BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${CFS_BG_PIDS[@]}"; do
		wait_for 3 eval "! _pid_alive $p" || kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	CFS_BG_PIDS=()
}

# ---- the mount ----

cfs_tmpdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/cloudfs-test.XXXXXX") || return 1
	chmod 755 "$d"     # the test users must reach the mount point
	echo "$d"
}

# _cfs_start MNT STATE LOG [opts…] — start a mount process; sets _CFS_START_PID
_cfs_start() {
	local mnt=$1 state=$2 log=$3; shift 3
	"$CLOUDFS" "$mnt" -f -o "state=$state" "$@" </dev/null >>"$log" 2>&1 3>&- &
	_CFS_START_PID=$!
}

# Listed in /proc/mounts (a mount whose process died still is, and still
# needs fusermount3 -u, though stat on it fails).
_is_mounted() {
	grep -q " $1 fuse" /proc/mounts
}

cfs_mount() {
	if [[ ! -x $CLOUDFS ]]; then
		echo "cloudfs binary not found at $CLOUDFS: build it (meson setup build && ninja -C build) or set CLOUDFS" >&2
		return 1
	fi
	if [[ -z ${CFS_TMP:-} ]]; then
		CFS_TMP=$(cfs_tmpdir) || return 1
	fi
	MNT=$CFS_TMP/mnt
	STATE=${STATE:-$CFS_TMP/state}
	CFS_LOG=$CFS_TMP/cloudfs.log
	mkdir -p "$MNT"
	chmod 755 "$MNT"
	echo "---- mount $(date -u +%FT%TZ) $*" >>"$CFS_LOG"
	_cfs_start "$MNT" "$STATE" "$CFS_LOG" "$@"
	CFS_PID=$_CFS_START_PID
	local i
	for ((i = 0; i < 200; i++)); do
		_is_mounted "$MNT" && return 0
		if ! _pid_alive "$CFS_PID"; then
			echo "cloudfs exited before mounting; its log:" >&2
			cat "$CFS_LOG" >&2
			CFS_PID=
			return 1
		fi
		sleep 0.05
	done
	echo "cloudfs did not mount $MNT within 10 s; its log:" >&2
	cat "$CFS_LOG" >&2
	return 1
}

# Sanitizer reports and UBSan "runtime error:" lines in a log fail the test.
# cfs_scan_log [LOG [quiet]]
cfs_scan_log() {
	local log=${1:-$CFS_LOG}
	[[ -f $log ]] || return 0
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer' "$log"; then
		echo "sanitizer report in $log" >&2
		[[ ${2:-} == quiet ]] || cat "$log" >&2
		return 1
	fi
}

# _cfs_stop PID MNT LOG STATE — unmount and wait; 0 when all went clean
_cfs_stop() {
	local pid=$1 mnt=$2 log=$3 state=$4 rc=0 i
	if _is_mounted "$mnt"; then
		for ((i = 0; i < 50; i++)); do
			fusermount3 -u "$mnt" 2>/dev/null && break
			sleep 0.1
		done
		if _is_mounted "$mnt"; then
			echo "cannot unmount $mnt (busy?); detaching it" >&2
			fusermount3 -u -z "$mnt" 2>/dev/null || true
			rc=1
		fi
	fi
	if [[ -n $pid ]]; then
		if ! wait_for 10 eval "! _pid_alive $pid"; then
			echo "cloudfs (pid $pid) still running 10 s after unmount; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			rc=1
		fi
		local st=0
		wait "$pid" 2>/dev/null || st=$?
		# 127: not our child (mounted by another shell), status unknown
		if ((st != 0 && st != 127 && rc == 0)); then
			echo "cloudfs exited with status $st" >&2
			rc=1
		fi
	fi
	cfs_scan_log "$log" quiet || rc=1
	if [[ -n $state ]] && pgrep -f -- "state=$state" >/dev/null; then
		echo "processes left behind for $state:" >&2
		pgrep -af -- "state=$state" >&2
		pkill -KILL -f -- "state=$state" 2>/dev/null || true
		rc=1
	fi
	if [[ $rc -ne 0 ]]; then
		echo "---- cloudfs log ($log):" >&2
		cat "$log" >&2 2>/dev/null || true
	fi
	return $rc
}

cfs_umount() {
	[[ -n ${MNT:-} ]] || return 0
	local rc=0
	_cfs_stop "${CFS_PID:-}" "$MNT" "$CFS_LOG" "$STATE" || rc=$?
	CFS_PID=
	return $rc
}

cfs_remount() {
	cfs_umount || return 1
	cfs_mount "$@"
}

# cfs_mount_other DIR [-o OPT]… — a second, independent mount at DIR/mnt
# with state DIR/state (DIR made by cfs_tmpdir); cfs_teardown stops it
cfs_mount_other() {
	local dir=$1; shift
	mkdir -p "$dir/mnt"
	_cfs_start "$dir/mnt" "$dir/state" "$dir/cloudfs.log" "$@"
	CFS_OTHERS+=("$_CFS_START_PID $dir")
	wait_for 10 _is_mounted "$dir/mnt" || {
		echo "the other mount at $dir/mnt did not come up:" >&2
		cat "$dir/cloudfs.log" >&2
		return 1
	}
}

# cfs_umount_other DIR — stop a mount made by cfs_mount_other, as cfs_umount
cfs_umount_other() {
	local dir=$1 e rc=0 keep=()
	for e in "${CFS_OTHERS[@]}"; do
		if [[ ${e#* } == "$dir" ]]; then
			_cfs_stop "${e%% *}" "$dir/mnt" "$dir/cloudfs.log" "$dir/state" || rc=1
		else
			keep+=("$e")
		fi
	done
	CFS_OTHERS=("${keep[@]}")
	return $rc
}

# Descriptors a failed test left open on the mount would keep it busy.
_cfs_close_fds() {
	[[ -n ${MNT:-} ]] || return 0
	local fd target
	for fd in /proc/$BASHPID/fd/*; do
		target=$(readlink "$fd" 2>/dev/null) || continue
		[[ $target == "$MNT"/* ]] || continue
		fd=${fd##*/}
		eval "exec $fd>&-"
	done
}

cfs_teardown() {
	local rc=0 o p m
	cfs_bg_stop
	_cfs_close_fds
	for o in "${CFS_OTHERS[@]}"; do
		cfs_umount_other "${o#* }" || rc=1
	done
	# anything else a test started under its temp dir (not the mount itself)
	if [[ -n ${CFS_TMP:-} ]]; then
		for p in $(pgrep -f -- "$CFS_TMP/"); do
			[[ $p == "${CFS_PID:-}" ]] && continue
			echo "stray process left by the test: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2
			kill -KILL "$p" 2>/dev/null || true
			rc=1
		done
	fi
	cfs_umount || rc=1
	if [[ -n ${CFS_TMP:-} ]]; then
		for m in $(awk -v p="$CFS_TMP/" 'index($2, p) == 1 { print $2 }' /proc/mounts); do
			echo "stray mount $m left by the test: unmounting" >&2
			fusermount3 -u -z "$m" 2>/dev/null || true
			rc=1
		done
		_is_mounted "$CFS_TMP/mnt" || rm -rf --one-file-system "$CFS_TMP"
	fi
	local d
	for d in "${CFS_EXTRA_DIRS[@]}"; do
		_is_mounted "$d/mnt" || rm -rf --one-file-system "$d"
	done
	CFS_EXTRA_DIRS=()
	CFS_TMP='' MNT='' STATE=''
	return $rc
}

# ---- ctl files ----

# ctl_write FILE DATA — DATA exactly, in one write(2) (a shell's echo may split
# a long or multi-line string into several writes)
ctl_write() {
	printf '%s' "$2" | _cfs_run dd of="$1" bs=1M iflag=fullblock conv=notrunc status=none
}

# The last line of FILE as the caller reads it: for a ctl file, the caller's
# last outcome on it.
_last_line() {
	_cfs_run cat "$1" | tail -n 1
}

ctl_ok() {
	local file=$1 cmd=$2 rc=0 err
	err=$(ctl_write "$file" "$cmd"$'\n' 2>&1) || rc=$?
	outcome=$(_last_line "$file") || true
	if ((rc != 0)) || [[ $outcome != ok* ]]; then
		echo "ctl_ok ${CFS_USER:+(as $CFS_USER) }$file: '$cmd'" >&2
		echo "  write status $rc: $err" >&2
		echo "  outcome: $outcome" >&2
		return 1
	fi
}

# write_fails ERRNO FILE DATA — opening FILE or writing DATA fails with ERRNO
write_fails() {
	local errno=$1 file=$2 data=$3 rc=0 err text
	text=$(errno_text "$errno") || return 1
	err=$(ctl_write "$file" "$data" 2>&1) || rc=$?
	if ((rc == 0)); then
		echo "write_fails $errno ${CFS_USER:+(as $CFS_USER) }$file: '$data' succeeded" >&2
		return 1
	fi
	if [[ $err != *"$text"* ]]; then
		echo "write_fails $errno ${CFS_USER:+(as $CFS_USER) }$file: '$data'" >&2
		echo "  expected \"$text\", got: $err" >&2
		return 1
	fi
}

ctl_fails() {
	local errno=$1 file=$2 cmd=$3
	write_fails "$errno" "$file" "$cmd"$'\n' || {
		echo "  outcome: $(_last_line "$file")" >&2
		return 1
	}
	outcome=$(_last_line "$file") || true
	if [[ $outcome != "error $errno:"* ]]; then
		echo "ctl_fails $errno ${CFS_USER:+(as $CFS_USER) }$file: '$cmd'" >&2
		echo "  the ctl read should end with 'error $errno: …', got: $outcome" >&2
		return 1
	fi
	# an explanation, not just the errno
	if [[ ${#outcome} -le $((${#errno} + 10)) ]]; then
		echo "ctl_fails $errno $file: '$cmd': no explanation in: $outcome" >&2
		return 1
	fi
}

# outcome_key KEY — KEY's value in $outcome (quotes and escapes removed)
outcome_key() {
	local key=$1 re v
	re="(^| )$key=(\"([^\"\\\\]|\\\\.)*\"|[^ ]*)"
	[[ $outcome =~ $re ]] || { echo "no $key= in outcome: $outcome" >&2; return 1; }
	v=${BASH_REMATCH[2]}
	if [[ $v == \"*\" ]]; then
		v=${v:1:${#v}-2}
		v=$(printf '%s' "$v" | sed -e 's/\\\(["\\]\)/\1/g')
	fi
	printf '%s\n' "$v"
}

# ---- state files ----

# key_of FILE KEY — the rest of the line starting with "KEY " in FILE
key_of() {
	local out
	out=$(_cfs_run cat "$1" | awk -v k="$2" '$1 == k { sub(/^[^ \t]+[ \t]+/, ""); print; found = 1; exit } END { exit !found }') || {
		echo "key_of: no key $2 in $1" >&2
		return 1
	}
	printf '%s\n' "$out"
}

# json_get FILE PATH — a value from a JSON document (PATH: a.b.0); strings
# bare, booleans true/false, null as null; fails on bad JSON or missing path
json_get() {
	_cfs_run cat "$1" | "$CFS_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
for p in [p for p in sys.argv[1].split(".") if p]:
    d = d[int(p)] if isinstance(d, list) else d[p]
if isinstance(d, bool):
    print("true" if d else "false")
elif d is None:
    print("null")
elif isinstance(d, (dict, list)):
    print(json.dumps(d))
else:
    print(d)
' "$2"
}

# What a caller sees of the stateful trees: every name in /instances, /shares
# and /jobs, each instance's owner, and every share and job file (ctl files
# hold outcomes, and an instance's status and live files change by
# themselves, so they are left out).
tree_state() {
	local m=${1:-$MNT}
	_cfs_run bash -c '
		cd "$1" || exit 1
		for top in instances shares jobs; do
			ls -A "$top" | LC_ALL=C sort | while read -r e; do
				echo "$top/$e"
				[[ -d $top/$e ]] || continue
				if [[ $top == instances ]]; then
					files=owner
				else
					files=$(ls -A "$top/$e" | grep -vx ctl | LC_ALL=C sort)
				fi
				for f in $files; do
					echo "  $f: $(tr "\n" "|" <"$top/$e/$f")"
				done
			done
		done' _ "$m"
}

# The mount's ids are UUIDs (env_id, share ids).
is_uuid() {
	[[ $1 =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]
}
