#!/usr/bin/env bash
# Loopback-only network namespace, for multi-node Ray clusters on one machine (ENVIRONMENT.md, "Ray").
#
#   .ci/netns.sh create NAME            create NAME with only `lo` (up); no-op if it exists
#   .ci/netns.sh delete NAME            delete NAME (processes still inside keep running: stop them first)
#   .ci/netns.sh run NAME -- CMD ...    run CMD inside NAME (created if missing, deleted afterwards
#                                       if this call created it); exit status is CMD's
#   .ci/netns.sh inside                 exit 0 when the calling process is in a loopback-only namespace
#
# Inside, every server binds 127.0.0.1 of the namespace and nothing can leave it (no other
# interface, no route), so Ray's head, worker nodes, dashboard and agents are loopback-only by
# construction. The environment and working directory are kept. Needs root and iproute2;
# exit status 3 means "cannot run here".
set -euo pipefail

cannot() { echo "netns.sh: $*" >&2; exit 3; }
usage() { sed -n '2,8p' "$0" >&2; exit 2; }

only_loopback() {
  local n
  for n in /sys/class/net/*; do
    [ "$(basename "$n")" = lo ] || return 1
  done
  return 0
}

need_root() {
  [ "$(id -u)" = 0 ] || cannot "must run as root to create network namespaces (ip netns add)"
  command -v ip >/dev/null || cannot "'ip' not found; install iproute2"
}

exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

create() {
  local name=$1
  exists "$name" && return 0
  ip netns add "$name"
  ip netns exec "$name" ip link set lo up
}

delete() {
  local name=$1
  exists "$name" || return 0
  ip netns del "$name"
}

[ $# -ge 1 ] || usage
case "$1" in
  inside)
    only_loopback
    ;;
  create)
    [ $# -eq 2 ] || usage
    need_root
    create "$2"
    ;;
  delete)
    [ $# -eq 2 ] || usage
    need_root
    delete "$2"
    ;;
  run)
    [ $# -ge 4 ] && [ "$3" = "--" ] || usage
    need_root
    name=$2
    shift 3
    created=0
    if ! exists "$name"; then
      create "$name"
      created=1
    fi
    set +e
    ip netns exec "$name" "$@"
    rc=$?
    set -e
    if [ "$created" = 1 ]; then delete "$name"; fi
    exit "$rc"
    ;;
  *) usage ;;
esac
