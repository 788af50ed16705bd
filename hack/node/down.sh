#!/usr/bin/env bash
# Stop a node started by hack/node/up.sh with the same D and remove everything it left on
# the host: its pods' containers and shims, the kubelet's and containerd's mounts under $D,
# the pods' network namespaces, the CNI bridge and the kubepods cgroups. Prints what it had
# to remove; `hack/node/down.sh --check` afterwards exits 1 if anything is still there.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
D=${D:-$ROOT/.cache/node}
NODE_BIN=${NODE_BIN:-$ROOT/bin/node}
[ -d "$D" ] || exit 0
D=$(cd "$D" && pwd)
BRIDGE=corral0
[ -f "$D/env" ] && . "$D/env"
SOCK=$D/state/containerd.sock
. "$HERE/host-paths.sh"

# leftovers: print what of this node is still on the host (one line each).
leftovers() {
  for f in "$D"/*.pid; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "process $(basename "$f" .pid) $(cat "$f")"; done
  pgrep -f "containerd-shim-runc-v2.*$D" | sed 's/^/shim /'
  awk -v d="$D" 'index($5, d) == 1 {print "mount " $5}' /proc/self/mountinfo
  ip netns list 2>/dev/null | awk '/^cni-/ {print "netns " $1}'
  ip link show "$BRIDGE" >/dev/null 2>&1 && echo "bridge $BRIDGE"
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do [ -d "$c" ] && echo "cgroup $c"; done
  for p in $HOST_PATHS; do [ -e "$p" ] && ! grep -qxF "$p" "$D/preexisting" 2>/dev/null && echo "path $p"; done
  find /var/log/containers -maxdepth 1 -lname "$D/*" 2>/dev/null | sed 's/^/log link /'
  [ -f "$D/tun-mode" ] && echo "/dev/net/tun mode not restored"
  iptables -t nat -S PREROUTING 2>/dev/null | grep -F -- "corral-node $D" | sed 's/^/iptables /'
  return 0
}
if [ "${1:-}" = --check ]; then
  left=$(leftovers)
  [ -z "$left" ] && { echo "nothing of the node in $D is left"; exit 0; }
  echo "left behind:"; echo "$left"; exit 1
fi

stop() { # NAME: SIGTERM, wait up to 20 s, then SIGKILL
  local pid
  [ -f "$D/$1.pid" ] || return 0
  pid=$(cat "$D/$1.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null && echo "killed $1 ($pid)" || echo "stopped $1 ($pid)"
  fi
  rm -f "$D/$1.pid"
}

# The watchdog (OWNER_PID) runs this script itself when its owner is gone: do not stop it then.
if [ -f "$D/watchdog.pid" ] && [ "$(cat "$D/watchdog.pid")" != "$PPID" ]; then stop watchdog; fi
rm -f "$D/watchdog.pid"
stop kubelet
if [ -S "$SOCK" ]; then
  # The kubelet is gone: stop the pods' sandboxes through containerd (which also tears down
  # their network namespaces through CNI), then the containers.
  ctr() { timeout 30 "$NODE_BIN/ctr" --address "$SOCK" -n k8s.io "$@"; }
  for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  sleep 1
  for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$c" >/dev/null 2>&1; done
fi
stop containerd
for pid in $(pgrep -f "containerd-shim-runc-v2.*$D"); do kill -9 "$pid" 2>/dev/null && echo "killed shim $pid"; done

# Mounts under $D, deepest first (the kubelet's pod volumes, containerd's rootfs and shm).
awk -v d="$D" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null && echo "unmounted $m"
done
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
  ip netns delete "$ns" && echo "deleted netns $ns"
done
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" && echo "deleted bridge $BRIDGE"
# up.sh's route to the API server (the rule's comment names this D).
iptables -t nat -S PREROUTING 2>/dev/null | grep -F -- "corral-node $D" | sed 's/^-A/-D/' | while read -r rule; do
  eval "iptables -t nat $rule" && echo "deleted iptables rule: $rule"
done
# Cgroups the kubelet made (cgroupfs driver), leaves first.
for c in /sys/fs/cgroup/*/kubepods; do
  [ -d "$c" ] || continue
  find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  [ -d "$c" ] && echo "cgroup $c still in use" || echo "removed cgroup $c"
done
# What the kubelet and containerd made at their fixed paths, unless it was there before.
find /var/log/containers -maxdepth 1 -lname "$D/*" -delete 2>/dev/null
for p in $HOST_PATHS_DEEPEST_FIRST; do
  [ -e "$p" ] || continue
  grep -qxF "$p" "$D/preexisting" 2>/dev/null && continue
  if [ -d "$p" ]; then rmdir "$p" 2>/dev/null; else rm -f "$p"; fi # sockets, the device manager's checkpoint
  [ -e "$p" ] && echo "$p is not empty: left" || echo "removed $p"
done
if [ -f "$D/tun-mode" ]; then
  chmod "$(cat "$D/tun-mode")" /dev/net/tun && echo "restored /dev/net/tun to mode $(cat "$D/tun-mode")"
  rm -f "$D/tun-mode"
fi
rm -f "$D/env"
leftovers | sed 's/^/still there: /'
