#!/usr/bin/env bash
# Single-node Ceph RADOS Gateway (a production S3 implementation) on 127.0.0.1, for tests.
#
#   .ci/ceph.sh start DIR PORT   start (or reuse) mon + memstore OSD + radosgw on 127.0.0.1:PORT;
#                                writes DIR/env (shell `export` lines) and prints it
#   .ci/ceph.sh stop DIR         kill the daemons started in DIR and remove DIR
#   .ci/ceph.sh status DIR       exit 0 when the gateway in DIR answers
#
# Use:  .ci/ceph.sh start /tmp/raysift-ceph 7480 >/dev/null && . /tmp/raysift-ceph/env
# DIR/env exports RAYSIFT_TEST_S3_ENDPOINT/KEY/SECRET/REGION and the client checksum settings
# RGW needs (AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED, else uploads fail with HTTP 411).
#
# Needs root and Debian's packages:
#   apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common
# Settings from ../shared/ENVIRONMENT.md: one monitor, one OSD with `osd objectstore = memstore`
# (data in RAM), cephx auth, pool size 1, `rgw frontends = beast endpoint=127.0.0.1:PORT`.
# Every daemon binds 127.0.0.1 only. Exit status 3 means "cannot run here" (not root / not installed).
set -euo pipefail

die() { echo "ceph.sh: $*" >&2; exit 1; }
kill_daemons() {  # on a failed start: stop what was started, keep DIR/log for diagnosis
  local p
  for p in $(pids_of "$1"); do kill -KILL "$p" 2>/dev/null || true; done
}
cannot() { echo "ceph.sh: $*" >&2; exit 3; }

usage() { sed -n '2,8p' "$0" >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1
dir=$2

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

gateway_up() {  # anonymous ListBuckets answers 200 on RGW
  local port=$1
  python3 - "$port" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2).read()
EOF
}

pids_of() {  # pids recorded in DIR/run/*.pid that are still alive
  local d=$1 f p
  for f in "$d"/run/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null || true)
    # alive and not a zombie (a daemonized child of a non-reaping init stays <defunct>)
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$p/stat" 2>/dev/null; then
      echo "$p"
    fi
  done
}

do_stop() {
  local d=$1 pids p i
  [ -d "$d" ] || return 0
  # Only the daemons whose pid files live in DIR: never another instance's.
  pids=$(pids_of "$d")
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 20); do
    [ -z "$(pids_of "$d")" ] && break
    sleep 0.1
  done
  for p in $(pids_of "$d"); do kill -KILL "$p" 2>/dev/null || true; done
  # Daemons whose pid file was never written: match on our config file path (exact, unique to DIR).
  if [ -f "$d/ceph.conf" ]; then
    for p in $(pgrep -f -- "-c $d/ceph.conf" || true); do kill -KILL "$p" 2>/dev/null || true; done
  fi
  rm -rf -- "$d"
}

do_start() {
  local d=$1 port=$2
  [ "$(id -u)" = 0 ] || cannot "must run as root (Ceph daemons and their data dirs); skip the real-S3 tests or run as root"
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool ceph; do
    command -v "$b" >/dev/null || cannot "$b not found; install: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common"
  done
  case "$port" in ''|*[!0-9]*) die "PORT must be a number, got '$port'";; esac

  # Idempotent: an instance already serving from DIR on PORT is reused.
  if [ -f "$d/env" ] && [ "$(cat "$d/port" 2>/dev/null)" = "$port" ] && gateway_up "$port"; then
    cat "$d/env"
    return 0
  fi
  do_stop "$d"
  if gateway_up "$port"; then die "something else already answers on 127.0.0.1:$port; choose another PORT"; fi

  mkdir -p "$d"/{run,log,mon,osd}
  d=$(cd "$d" && pwd)
  trap "kill_daemons '$d'" ERR EXIT
  local conf=$d/ceph.conf fsid mon_port osd_uuid key secret memstore_bytes
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  key=$(python3 -c 'import secrets, string; print("".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20)))')
  secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30)[:40])')
  mon_port=$(free_port)
  memstore_bytes=${RAYSIFT_CEPH_MEMSTORE_BYTES:-2147483648}
  echo "$port" > "$d/port"

  cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $d/\$name.keyring
run dir = $d/run
admin socket = $d/run/\$name.asok
pid file = $d/run/\$name.pid
log file = $d/log/\$name.log
mon cluster log file = $d/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# The monitor refuses to start (ENOSPC, exit 28) when its disk is under 5 % free; a test
# cluster keeps a few MB there, so only a truly full disk should stop it.
mon data avail crit = 1
mon data avail warn = 2

[mon]
mon data = $d/mon
keyring = $d/mon/keyring
mon pg warn min per osd = 0

[osd]
osd data = $d/osd
osd objectstore = memstore
memstore device bytes = $memstore_bytes
osd max object name len = 460
osd max object namespace len = 64

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $d/rgw
rgw dns name = 127.0.0.1
rgw thread pool size = 64
EOF

  local q=(--conf "$conf" --connect-timeout 20)
  # Keys: monitor, admin client (the `ceph` CLI), merged into the monitor's keyring.
  ceph-authtool --create-keyring "$d/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$d/client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$d/mon.keyring" --import-keyring "$d/client.admin.keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$d/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$d/monmap" --keyring "$d/mon.keyring" >/dev/null
  ceph-mon -c "$conf" -i a

  # OSD (memstore: data in RAM).
  local osd_id
  osd_id=$(ceph "${q[@]}" osd new "$osd_uuid")
  [ "$osd_id" = 0 ] || die "expected osd id 0, got '$osd_id' (see $d/log)"
  ceph-osd -c "$conf" -i 0 --no-mon-config --mkfs --mkkey --osd-uuid "$osd_uuid" --keyring "$d/osd/keyring" >/dev/null 2>&1 \
    || die "ceph-osd --mkfs failed (see $d/log/osd.0.log)"
  ceph "${q[@]}" auth add osd.0 osd 'allow *' mon 'allow profile osd' -i "$d/osd/keyring" >/dev/null 2>&1
  ceph-osd -c "$conf" -i 0 --keyring "$d/osd/keyring"

  # Gateway.
  ceph "${q[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' -o "$d/client.rgw.a.keyring" >/dev/null 2>&1
  mkdir -p "$d/rgw"
  radosgw -c "$conf" -n client.rgw.a --keyring "$d/client.rgw.a.keyring"

  local i
  for i in $(seq 1 240); do
    gateway_up "$port" && break
    sleep 0.25
  done
  gateway_up "$port" || die "radosgw did not answer on 127.0.0.1:$port within 60 s (see $d/log)"

  radosgw-admin -c "$conf" -n client.admin user create --uid test --display-name test \
    --access-key "$key" --secret "$secret" >/dev/null 2>&1 \
    || die "radosgw-admin user create failed (see $d/log)"

  cat > "$d/env" <<EOF
export RAYSIFT_TEST_S3_ENDPOINT=http://127.0.0.1:$port
export RAYSIFT_TEST_S3_KEY=$key
export RAYSIFT_TEST_S3_SECRET=$secret
export RAYSIFT_TEST_S3_REGION=us-east-1
export AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED
export AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED
EOF
  chmod 600 "$d/env"
  trap - ERR EXIT
  cat "$d/env"
}

case "$cmd" in
  start)
    [ $# -eq 3 ] || usage
    do_start "$dir" "$3"
    ;;
  stop)
    do_stop "$dir"
    ;;
  status)
    [ -f "$dir/port" ] && gateway_up "$(cat "$dir/port")"
    ;;
  *) usage ;;
esac
