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

[ -d "$build" ] || meson setup "$build" "$here" -Dtests=false >/dev/null
echo "building cloudfs and cloudfs-agent in $build"
ninja -C "$build" fs/cloudfs tools/cloudfs-agent >"$build/demo-build.log" 2>&1 ||
	{ tail -n 30 "$build/demo-build.log"; echo "build failed"; exit 1; }

agent_dir=${CFS_DEMO_AGENT:-/tmp/cloudfs-demo-agent}
restic_dir=${CFS_DEMO_RESTIC:-/tmp/cloudfs-demo-restic}
port=${CFS_DEMO_PORT:-7001}

# start over
if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt"; sleep 0.5; fi
pkill -f "cloudfs-agent serve --state $agent_dir/state" 2>/dev/null || true
rm -rf "$state" "$agent_dir" "$restic_dir"
mkdir -p "$mnt" "$state" "$agent_dir/root/www" "$restic_dir"
id "$demo_user" >/dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin "$demo_user"

# a local agent with a small tree, a command, a log and a config file
echo '<h1>hello from web1</h1>' > "$agent_dir/root/www/index.html"
echo "demo log line" > "$agent_dir/app.log"
echo "listen 80;" > "$agent_dir/site.conf"
env_id=$("$build/tools/cloudfs-agent" init --root "$agent_dir/root" --listen "127.0.0.1:$port" \
	--state "$agent_dir/state")
cat >> "$agent_dir/state/agent.conf" <<CONF

[command.uptime]
argv = uptime

[logs]
app = $agent_dir/app.log

[config]
site = $agent_dir/site.conf
CONF

# a restic repository with two snapshots, attached read-only as /repos/demo
echo "demo-password" > "$restic_dir/password"
chmod 600 "$restic_dir/password"
mkdir -p "$restic_dir/data"
echo "first" > "$restic_dir/data/notes.txt"
RESTIC_PASSWORD_FILE="$restic_dir/password" restic -q init -r "$restic_dir/repo"
RESTIC_PASSWORD_FILE="$restic_dir/password" restic -q -r "$restic_dir/repo" backup --host demo "$restic_dir/data"
echo "second" >> "$restic_dir/data/notes.txt"
RESTIC_PASSWORD_FILE="$restic_dir/password" restic -q -r "$restic_dir/repo" backup --host demo --tag daily "$restic_dir/data"
cat > "$state/cloudfs.conf" <<CONF
[poll]
interval = 2s

[repos.demo]
path = $restic_dir/repo
password_file = $restic_dir/password
CONF

"$build/fs/cloudfs" "$mnt" -o "state=$state"
for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done

echo 'label demo' > "$mnt/self/ctl"
echo "add web1 http://127.0.0.1:$port env=$env_id" > "$mnt/instances/ctl"
secret=$(tail -n 1 "$mnt/instances/ctl" | sed -n 's/.* secret=\([0-9a-f]\{64\}\).*/\1/p')
"$build/tools/cloudfs-agent" pair "$(cat "$mnt/self/env_id")" "$secret" --state "$agent_dir/state" >/dev/null
nohup "$build/tools/cloudfs-agent" serve --state "$agent_dir/state" >"$agent_dir/agent.log" 2>&1 &
echo "add $demo_user instance=web1 perms=read note=\"demo share\" expires=+7d" > "$mnt/shares/ctl"
echo 'check' > "$mnt/self/ctl"
for _ in $(seq 50); do [ "$(cat "$mnt/instances/web1/status")" = online ] && break; sleep 0.2; done
# a mirror of web1's www/ into www-copy/ on the same host, kept in step
echo 'add site web1:www web1:www-copy' > "$mnt/mirrors/ctl"
for _ in $(seq 100); do [ "$(cat "$mnt/mirrors/site/status")" = in-sync ] && break; sleep 0.2; done

cat <<MSG

cloudfs is mounted at $mnt (state in $state).  Try:

  cat $mnt/README                 the tree and every ctl verb
  cat $mnt/instances/web1/status  a live instance (a local agent on 127.0.0.1:$port)
  cat $mnt/instances/web1/info $mnt/instances/web1/health
  cat $mnt/instances/web1/logs/app $mnt/instances/web1/config/site
  echo 'run uptime' > $mnt/instances/web1/ctl; cat $mnt/jobs/2/log
  cat $mnt/mirrors/site/status $mnt/mirrors/site/plan   a mirror (www → www-copy)
  echo hi > $mnt/mirrors/site/files/new.html; ls $agent_dir/root/www-copy
  ls -l $mnt/repos/demo/snapshots/ a restic repository with two snapshots
  cat $mnt/repos/demo/snapshots/latest$restic_dir/data/notes.txt
  cat $mnt/shares/*/share.json    a share to the user $demo_user
  cat $mnt/jobs/1/status          a finished job (the state check)
  setpriv --reuid=$demo_user --regid=$(id -g $demo_user) --clear-groups ls $mnt/instances
  cat $mnt/metrics
  cat $mnt/events                 (Ctrl-C to stop) while you echo into a ctl file

Unmount with: fusermount3 -u $mnt
Stop the agent with: pkill -f 'cloudfs-agent serve --state $agent_dir/state'
MSG
