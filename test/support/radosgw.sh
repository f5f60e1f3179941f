#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with a RADOS Gateway on 127.0.0.1, the
# real S3 (with Object Lock in COMPLIANCE mode) the WORM tests run against.
#
#   radosgw.sh start DIR      build a cluster in DIR (one mon, one memstore OSD,
#                             one radosgw) on free ports; print endpoint and keys
#                             as one JSON line on stdout
#   radosgw.sh stop DIR       stop every daemon started in DIR, by its recorded PID
#   radosgw.sh stop-rgw DIR   stop only radosgw (the S3 outage tests use this)
#   radosgw.sh start-rgw DIR  start radosgw again on the same port
#
# Everything lives under DIR: config, mon store, OSD, logs, PID files. Nothing is
# installed system-wide and nothing listens outside 127.0.0.1. Authentication
# between daemons is off (`auth * required = none`); the S3 user's keys are the
# only credentials, generated here per cluster. Needs the Debian packages
# radosgw, ceph-mon, ceph-osd and uuid-runtime.
set -euo pipefail

die() {
  echo "radosgw.sh: $*" >&2
  exit 1
}

# A free TCP port on 127.0.0.1, picked by the kernel.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1, or fails after $2 seconds.
wait_port() {
  local port=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Starts a daemon in the foreground of its own session and records its PID.
spawn() {
  local name=$1
  shift
  setsid "$@" >>"$DIR/log/$name.out" 2>&1 </dev/null &
  echo $! >"$DIR/run/$name.pid"
}

stop_pid_file() {
  local file=$1 pid i
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

start_rgw() {
  local port
  port=$(cat "$DIR/rgw.port")
  spawn radosgw radosgw -f -c "$DIR/ceph.conf" -n client.rgw.test
  wait_port "$port" 60 || die "radosgw did not listen on 127.0.0.1:$port (see $DIR/log)"
}

cmd=${1:-}
DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || die "usage: radosgw.sh start|stop|stop-rgw|start-rgw DIR"

case "$cmd" in
start)
  for tool in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool uuidgen node; do
    command -v "$tool" >/dev/null || die "$tool not found; install radosgw ceph-mon ceph-osd uuid-runtime"
  done
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  [ ! -e "$DIR/ceph.conf" ] || die "$DIR already holds a cluster"
  mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon" "$DIR/osd/ceph-0"
  fsid=$(uuidgen)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(free_port); done
  echo "$rgw_port" >"$DIR/rgw.port"
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool delete = true
mon warn on pool no redundancy = false

[client.rgw.test]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
ms mon client mode = crc secure
auth client required = none
rgw data = $DIR/rgw
EOF
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/mkfs.out" 2>&1 ||
    die "ceph-mon --mkfs failed (see $DIR/log/mkfs.out)"
  spawn ceph-mon ceph-mon -f -c "$DIR/ceph.conf" -i a
  wait_port "$mon_port" 30 || die "ceph-mon did not listen on 127.0.0.1:$mon_port"

  osd_uuid=$(uuidgen)
  timeout 60 ceph -c "$DIR/ceph.conf" osd new "$osd_uuid" >/dev/null 2>>"$DIR/log/mkfs.out" ||
    die "ceph osd new failed (see $DIR/log/mkfs.out)"
  ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed (see $DIR/log/mkfs.out)"
  spawn ceph-osd ceph-osd -f -c "$DIR/ceph.conf" -i 0

  start_rgw
  access_key=$(head -c 15 /dev/urandom | base32 | tr -d '=\n' | head -c 20)
  secret_key=$(head -c 30 /dev/urandom | base64 | tr -d '=\n/+' | head -c 40)
  timeout 60 radosgw-admin -c "$DIR/ceph.conf" -n client.rgw.test user create --uid=worm-test \
    --display-name="WORM test" --access-key="$access_key" --secret-key="$secret_key" \
    >>"$DIR/log/user.out" 2>&1 || die "radosgw-admin user create failed (see $DIR/log/user.out)"
  printf '{"endpoint":"http://127.0.0.1:%s","accessKeyId":"%s","secretAccessKey":"%s","region":"us-east-1"}\n' \
    "$rgw_port" "$access_key" "$secret_key"
  ;;
stop)
  stop_pid_file "$DIR/run/radosgw.pid"
  stop_pid_file "$DIR/run/ceph-osd.pid"
  stop_pid_file "$DIR/run/ceph-mon.pid"
  ;;
stop-rgw)
  stop_pid_file "$DIR/run/radosgw.pid"
  ;;
start-rgw)
  [ -f "$DIR/rgw.port" ] || die "$DIR holds no cluster"
  [ ! -f "$DIR/run/radosgw.pid" ] || ! kill -0 "$(cat "$DIR/run/radosgw.pid")" 2>/dev/null ||
    die "radosgw already runs in $DIR"
  start_rgw
  ;;
*)
  die "unknown command $cmd; use start, stop, stop-rgw or start-rgw"
  ;;
esac
