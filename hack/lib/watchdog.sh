# Sourced by hack/cluster/up.sh and hack/node/up.sh.
#
# start_watchdog OWNER DIR DOWN: once process OWNER is gone, run DOWN with D=DIR (its log in
# DIR/logs/watchdog.log), so that a test that dies without cleaning up leaves nothing behind.
# The watchdog is not a child of OWNER: it outlives it by design. Its pid goes to
# DIR/watchdog.pid, for down.sh to stop it.
start_watchdog() {
  local owner=$1 dir=$2 down=$3
  ( trap '' INT HUP
    while kill -0 "$owner" 2>/dev/null; do sleep 1; done
    D="$dir" "$down" > "$dir/logs/watchdog.log" 2>&1 ) </dev/null >/dev/null 2>&1 &
  echo $! > "$dir/watchdog.pid"
  disown
}
