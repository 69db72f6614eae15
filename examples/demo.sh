#!/usr/bin/env bash
# The cloudfs demo: installs what it needs (Debian 12, as root), builds, and
# mounts a working cloudfs at /tmp/cloudfs-demo with its state in
# /tmp/cloudfs-demo-state.  Run it again to start over; stop it with
#   fusermount3 -u /tmp/cloudfs-demo
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mnt=${CFS_DEMO_MNT:-/tmp/cloudfs-demo}
state=${CFS_DEMO_STATE:-/tmp/cloudfs-demo-state}
build=$here/build-demo
demo_user=cfsdemo

need=(build-essential meson ninja-build pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev
      libcjson-dev libssl-dev libsqlite3-dev libxxhash-dev libzstd-dev libmicrohttpd-dev
      libinih-dev libcrypt-dev libcmocka-dev restic rclone curl git)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -d "$build" ] || meson setup "$build" "$here" >/dev/null
ninja -C "$build" >/dev/null

# start over
if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt"; sleep 0.5; fi
rm -rf "$state"
mkdir -p "$mnt" "$state"
id "$demo_user" >/dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin "$demo_user"

"$build/fs/cloudfs" "$mnt" -o "state=$state"
for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done

echo 'label demo' > "$mnt/self/ctl"
echo 'add web1 http://127.0.0.1:7001' > "$mnt/instances/ctl"
echo "add $demo_user instance=web1 perms=read note=\"demo share\" expires=+7d" > "$mnt/shares/ctl"
echo 'check' > "$mnt/self/ctl"

cat <<MSG

cloudfs is mounted at $mnt (state in $state).  Try:

  cat $mnt/README                 the tree and every ctl verb
  ls -l $mnt/instances/web1       a registered instance
  cat $mnt/shares/*/share.json    a share to the user $demo_user
  cat $mnt/jobs/1/status          a finished job (the state check)
  setpriv --reuid=$demo_user --regid=$(id -g $demo_user) --clear-groups ls $mnt/instances
  cat $mnt/metrics
  cat $mnt/events                 (Ctrl-C to stop) while you echo into a ctl file

Unmount with: fusermount3 -u $mnt
MSG
