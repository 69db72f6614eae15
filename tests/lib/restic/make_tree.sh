#!/bin/bash
# make_tree.sh DIR [NSMALL] — builds the fixture tree the restic oracle tests
# back up: every node type restic stores, hostile names, odd modes and times.
# Parts that need root (devices, owners) or xattr support are skipped without.
set -eu
d=$1
nsmall=${2:-300}
mkdir -p "$d"
cd "$d"

: > empty
head -c 9437184 /dev/urandom > big.bin            # 9 MiB: several blobs
printf 'hello\n' > small.txt
# sparse: a hole, then some data
truncate -s 3M sparse.bin
printf 'tail' | dd of=sparse.bin bs=1 seek=3145728 conv=notrunc status=none

mkdir many
for ((i = 0; i < nsmall; i++)); do
	printf 'file %d\n%0*d\n' "$i" $((i % 97)) 0 > "many/f$i"
done

mkdir names
: > "names/with space"
: > "names/new
line"
: > 'names/back\slash'
: > 'names/dq"q'
: > "names/sq'q"
: > $'names/tab\tq'
: > $'names/bad\xffbyte'
: > $'names/soft\xc2\xadhy'
: > 'names/über'
: > 'names/<&>'
: > "names/$(printf 'L%.0s' $(seq 1 255))"
printf 'x' > 'names/-dash'

p=deep
for ((i = 0; i < 30; i++)); do p=$p/d$i; done
mkdir -p "$p"
printf 'bottom\n' > "$p/leaf"

mkdir links
ln -s ../small.txt links/rel
ln -s /nonexistent/target links/dangling
ln -s "$(printf 'we\xffird target')" links/oddtarget
printf 'linked\n' > links/hard1
ln links/hard1 links/hard2
mkfifo links/fifo
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' links/sock ||
	true

mkdir modes
printf 's' > modes/setuid; chmod 4755 modes/setuid
printf 'g' > modes/setgid; chmod 2755 modes/setgid
mkdir modes/sticky; chmod 1777 modes/sticky
printf 'n' > modes/none; chmod 0000 modes/none
printf 'o' > modes/owneronly; chmod 0600 modes/owneronly
printf 'old\n' > modes/old1960
touch -h -d '1960-01-01 00:00:00 UTC' modes/old1960
touch -h -d '2001-02-03 04:05:06.123456789 UTC' small.txt

if [ "$(id -u)" = 0 ]; then
	printf 'owned\n' > modes/owned; chown 1234:5678 modes/owned
	mknod modes/chardev c 1 3
	mknod modes/blockdev b 7 0
fi
if setfattr -n user.cfs -v value small.txt 2>/dev/null; then
	setfattr -n user.bin -v 0xff00ff small.txt
	setfattr -n user.empty small.txt 2>/dev/null || true
	setfattr -n user.dir -v d names
fi
