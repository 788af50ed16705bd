#!/usr/bin/env bash
# Stop a cluster started by hack/cluster/up.sh with the same D: each component by the PID
# up.sh recorded (never by name), in reverse start order, waiting for each to exit (the API
# server needs etcd while it shuts down). Other processes whose PID a caller wrote to $D/*.pid
# (the demo's corral and fake GitHub) are stopped first. Logs stay in $D/logs; etcd data is
# removed unless KEEP_DATA=1. Safe to run twice.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
D=${D:-$(cd "$HERE/../.." && pwd)/.cache/cluster}
[ -d "$D" ] || exit 0

# ours PID PATTERN: the process still runs and (where /proc exists) its command line contains
# PATTERN, so a PID reused by another process after ours exited is never signalled.
ours() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$2"
}

# stop NAME[:PATTERN]...: SIGTERM to each (PATTERN defaults to NAME), then wait up to 30 s for
# them all and SIGKILL what is left.
stop() {
  local item n pat pid pids=() names=()
  for item in "$@"; do
    n=${item%%:*}; pat=${item#*:}
    [ -f "$D/$n.pid" ] || continue
    pid=$(cat "$D/$n.pid")
    if ours "$pid" "$pat" && kill "$pid" 2>/dev/null; then pids+=("$pid"); names+=("$n"); fi
    rm -f "$D/$n.pid"
  done
  for i in "${!pids[@]}"; do
    for _ in $(seq 1 300); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pids[$i]}" 2>/dev/null; then kill -9 "${pids[$i]}" 2>/dev/null; echo "killed ${names[$i]} (${pids[$i]})"
    else echo "stopped ${names[$i]} (${pids[$i]})"; fi
  done
}

# The watchdog (OWNER_PID) runs this script itself when its owner is gone: do not stop it then.
if [ -f "$D/watchdog.pid" ] && [ "$(cat "$D/watchdog.pid")" != "$PPID" ]; then stop watchdog:up.sh; fi
# Processes a caller recorded beside ours (e.g. the demo's corral and fake GitHub) go first.
core=" watchdog kwok kube-scheduler kube-controller-manager kube-apiserver etcd "
extra=()
for f in "$D"/*.pid; do
  [ -f "$f" ] || continue
  n=$(basename "$f" .pid)
  case "$core" in *" $n "*) ;; *) extra+=("$n:$n") ;; esac
done
[ ${#extra[@]} -eq 0 ] || stop "${extra[@]}"
stop kwok:kwok kube-scheduler:kube-scheduler kube-controller-manager:kube-controller-manager
stop kube-apiserver:kube-apiserver
stop etcd:etcd
rm -f "$D/watchdog.pid"
[ "${KEEP_DATA:-0}" = 1 ] || rm -rf "$D/etcd"
