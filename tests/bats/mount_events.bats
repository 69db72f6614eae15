#!/usr/bin/env bats
# /events: an endless stream, one JSON object per line, of the state changes
# the reader may see, from the moment it is opened; several readers at once;
# a blocked reader is interruptible.

load ../lib/common

setup_file() {
	cfs_users_create
}

setup() {
	cfs_mount
	S=$MNT/shares/ctl
}

teardown() {
	cfs_teardown
}

# reader [-u USER] NAME — a background `cat /events` into $CFS_TMP/NAME
reader() {
	local user=()
	if [[ $1 == -u ]]; then
		user=(-u "$2")
		shift 2
	fi
	: >"$CFS_TMP/$1"
	cfs_bg "${user[@]}" cat "$MNT/events" >"$CFS_TMP/$1"
	# opened before we go on: its cursor starts at the open
	wait_for 3 eval "ls -l /proc/$CFS_BG_LAST/fd 2>/dev/null | grep -q '$MNT/events'"
}

# has_event FILE TYPE ID — FILE holds a JSON line of TYPE for ID
has_event() {
	grep -F "\"$2\"" "$CFS_TMP/$1" 2>/dev/null | grep -qF "$3"
}

# every line of FILE is a JSON object with time, type and id
all_json() {
	"$CFS_PYTHON" - "$CFS_TMP/$1" <<'EOF'
import json, re, sys
n = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert isinstance(d, dict), line
    if "dropped" in d:
        continue
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", d["time"]), line
    assert re.match(r"^[a-z]+\.[a-z_]+$", d["type"]), line
    assert "id" in d, line
    n += 1
assert n > 0, "no events"
EOF
}

@test "a background reader gets a share.created line" {
	reader ev
	ctl_ok "$S" "add $BOB note=e1"
	id=$(outcome_key id)
	wait_for 5 has_event ev share.created "$id"
	all_json ev
	line=$(grep -F "$id" "$CFS_TMP/ev" | head -n1)
	"$CFS_PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["type"] == "share.created", d
assert d["id"] == sys.argv[2], d
' "$line" "$id"
}

@test "events follow each state change: share revoked, instance added" {
	reader ev
	ctl_ok "$MNT/instances/ctl" "add web1 http://127.0.0.1:9"
	ctl_ok "$S" "add $BOB instance=web1"
	id=$(outcome_key id)
	ctl_ok "$S" "revoke $id"
	wait_for 5 has_event ev share.revoked "$id"
	grep -q '"type":"instance\.[a-z]*"' "$CFS_TMP/ev"
	grep -q 'web1' "$CFS_TMP/ev"
	all_json ev
	# in order
	c=$(grep -n share.created "$CFS_TMP/ev" | head -n1 | cut -d: -f1)
	r=$(grep -n share.revoked "$CFS_TMP/ev" | head -n1 | cut -d: -f1)
	[ "$c" -lt "$r" ]
}

@test "a reader sees only what happens after it opened" {
	ctl_ok "$S" "add $BOB note=before"
	old=$(outcome_key id)
	reader ev
	ctl_ok "$S" "add $BOB note=after"
	new=$(outcome_key id)
	wait_for 5 has_event ev share.created "$new"
	refute grep -qF "$old" "$CFS_TMP/ev"
}

@test "several readers at once all get the event" {
	reader r1
	reader r2
	reader r3
	ctl_ok "$S" "add $BOB note=many"
	id=$(outcome_key id)
	for r in r1 r2 r3; do
		wait_for 5 has_event "$r" share.created "$id"
	done
	# one more, and all three again
	ctl_ok "$S" "disable $id"
	for r in r1 r2 r3; do
		wait_for 5 has_event "$r" share.disabled "$id"
	done
}

@test "a reader only sees what it may" {
	cfs_need_root
	reader -u "$BOB" bob
	reader -u "$CAROL" carol
	as_user "$ALICE" ctl_ok "$MNT/instances/ctl" "add app http://127.0.0.1:9"
	as_user "$ALICE" ctl_ok "$S" "add $CAROL instance=app note=private"
	private=$(outcome_key id)
	as_user "$ALICE" ctl_ok "$S" "add $BOB instance=app note=forbob"
	forbob=$(outcome_key id)
	wait_for 5 has_event bob share.created "$forbob"
	wait_for 5 has_event carol share.created "$private"
	# bob never hears of alice's share with carol, nor carol of bob's
	refute grep -qF "$private" "$CFS_TMP/bob"
	refute grep -qF "$forbob" "$CFS_TMP/carol"
}

@test "a reader that may see everything: root sees users' events" {
	cfs_need_root
	reader root
	as_user "$ALICE" ctl_ok "$S" "add $CAROL note=x"
	id=$(outcome_key id)
	wait_for 5 has_event root share.created "$id"
}

@test "a blocked reader is interruptible (Ctrl-C)" {
	command -v perl >/dev/null || skip "needs perl"
	# SIGINT with its default action, as a terminal's Ctrl-C would deliver it
	cfs_bg perl -e '$SIG{INT} = "DEFAULT"; open(my $f, "<", $ARGV[0]) or die; my $b; sysread($f, $b, 4096); exit 3' "$MNT/events"
	pid=$CFS_BG_LAST
	wait_for 3 eval "ls -l /proc/$pid/fd 2>/dev/null | grep -q '$MNT/events'"
	sleep 0.3
	_pid_alive "$pid"
	kill -INT "$pid"
	wait_for 3 eval "! _pid_alive $pid" || { echo "the reader did not stop on SIGINT"; false; }
}

@test "a blocked read returns EINTR to a process that handles the signal" {
	command -v perl >/dev/null || skip "needs perl"
	out=$CFS_TMP/intr.out
	cfs_bg perl -e '
		$SIG{USR1} = sub { };
		open(my $f, "<", $ARGV[0]) or die;
		my $b;
		my $r = sysread($f, $b, 4096);
		my $what = defined $r ? "read $r" : "$!";
		open(my $o, ">", $ARGV[1]); print $o "$what\n";' "$MNT/events" "$out"
	pid=$CFS_BG_LAST
	wait_for 3 eval "ls -l /proc/$pid/fd 2>/dev/null | grep -q '$MNT/events'"
	sleep 0.3
	kill -USR1 "$pid"
	wait_for 3 eval "[ -s '$out' ]" || { echo "the read was not interrupted"; false; }
	got=$(cat "$out")
	[ "$got" = "$(errno_text EINTR)" ] || { echo "the read ended with: $got"; false; }
	# the mount goes on serving readers
	reader ev
	ctl_ok "$S" "add $BOB"
	wait_for 5 has_event ev share.created "$(outcome_key id)"
}

@test "a reader closing mid-stream does not disturb the others" {
	reader r1
	reader r2
	second=$CFS_BG_LAST
	ctl_ok "$S" "add $BOB note=one"
	wait_for 5 has_event r2 share.created "$(outcome_key id)"
	kill "$second"
	ctl_ok "$S" "add $BOB note=two"
	id=$(outcome_key id)
	wait_for 5 has_event r1 share.created "$id"
}

@test "poll on /events waits, then wakes when an event arrives" {
	out=$CFS_TMP/poll.out
	cfs_bg "$CFS_PYTHON" -c '
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
p = select.poll()
p.register(fd, select.POLLIN)
early = p.poll(300)
t0 = time.time()
ready = p.poll(8000)
data = os.read(fd, 65536) if ready else b""
with open(sys.argv[2], "w") as f:
    f.write("early=%d ready=%d\n" % (len(early), len(ready)))
    f.write(data.decode())
' "$MNT/events" "$out"
	sleep 1
	ctl_ok "$S" "add $BOB note=polled"
	id=$(outcome_key id)
	wait_for 10 eval "[ -s '$out' ]"
	head -n1 "$out" | grep -qx 'early=0 ready=1'
	grep -qF "$id" "$out"
}
