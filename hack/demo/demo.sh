#!/usr/bin/env bash
# `make demo`: Corral on a laptop with nothing but Go. It starts a local control plane whose
# fake nodes are played by kwok (hack/cluster), the fake GitHub (cmd/fake-github), and corral
# itself as a local process; creates a RunnerPool, sends a wave of workflow jobs and shows the
# pool scaling up and back down. Then it waits, so you can poke at it, until Ctrl-C, which
# stops every process it started. See docs/demo.md.
#
# Environment: K8S_BIN (the Kubernetes binaries; `make demo` builds them), DEMO_DIR (state and
# logs, default .cache/demo), DEMO_JOBS (jobs in the wave, default 8), DEMO_JOB_SECONDS (how
# long each job runs, default 6), DEMO_WAIT=0 (stop after the wave instead of waiting),
# CORRAL_BIN (run this corral binary instead of building ./cmd/corral).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
K8S_BIN=${K8S_BIN:-$ROOT/bin/k8s/1.36.3-$(go env GOOS)-$(go env GOARCH)}
DIR=${DEMO_DIR:-$ROOT/.cache/demo}
JOBS=${DEMO_JOBS:-8}
JOB_SECONDS=${DEMO_JOB_SECONDS:-6}
WAIT=${DEMO_WAIT:-1}
CL=$DIR/cluster
NS=demo
LABELS=self-hosted,linux,demo
T0=$SECONDS

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B= N=; fi
say() { printf '%s==> %s%s\n' "$B" "$*" "$N"; }
log() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*"; }
k() { "$K8S_BIN/kubectl" --kubeconfig "$CL/kubeconfig" "$@"; }
fg() { "$DIR/bin/fake-github" -dir "$DIR/fake-github" "$@"; }

for f in "$CL"/*.pid; do
  if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    echo "a demo is already running in $DIR: stop it with Ctrl-C in its terminal, or: D=$CL hack/cluster/down.sh" >&2
    exit 1
  fi
done

cleanup() {
  trap '' INT TERM
  set +e
  echo
  say "stopping the demo"
  # down.sh stops corral and the fake GitHub first (their PIDs are in $CL), then the cluster.
  D="$CL" "$ROOT/hack/cluster/down.sh" >/dev/null
  say "stopped; logs are in $CL/logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg NAME CMD...: start CMD in its own process group (a Ctrl-C reaches only this script,
# which then stops everything in order), log to $CL/logs/NAME.log, PID in $CL/NAME.pid.
bg() {
  local n=$1; shift
  set -m
  "$@" > "$CL/logs/$n.log" 2>&1 &
  echo $! > "$CL/$n.pid"
  set +m
  disown
}

# until_ok SECONDS WHAT CMD...: retry CMD until it succeeds.
until_ok() {
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for $what; logs in $CL/logs" >&2; return 1; fi
    sleep 0.3
  done
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}

say "building corral and the fake GitHub"
mkdir -p "$DIR/bin"
CORRAL=${CORRAL_BIN:-$DIR/bin/corral}
[ -n "${CORRAL_BIN:-}" ] || (cd "$ROOT" && go build -o "$CORRAL" ./cmd/corral)
(cd "$ROOT" && go build -o "$DIR/bin/fake-github" ./cmd/fake-github)

say "starting a local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok"
echo "    with Corral's CRD, ServiceAccount and RBAC installed (config/default without its Deployment)"
D="$CL" BIN="$K8S_BIN" OWNER_PID=$$ INSTALL="$ROOT/hack/cluster/install" "$ROOT/hack/cluster/up.sh" | sed 's/^/    /'
k get nodes -L kubernetes.io/arch | sed 's/^/    /'
k wait --for=condition=Established crd/runnerpools.corral.run --timeout=60s >/dev/null

webhook_addr=127.0.0.1:$(free_port)
say "starting the fake GitHub (its webhooks go to corral at http://$webhook_addr/webhook)"
rm -rf "$DIR/fake-github" # a previous run's info.json would look ready
bg fake-github "$DIR/bin/fake-github" serve --dir "$DIR/fake-github" --kubeconfig "$CL/kubeconfig" \
  --webhook-url "http://$webhook_addr/webhook" --job-duration "${JOB_SECONDS}s"
until_ok 60 "the fake GitHub" test -f "$DIR/fake-github/info.json"
# shellcheck disable=SC1091
. "$DIR/fake-github/env"
echo "    API $FAKE_GITHUB_URL, organization $FAKE_GITHUB_POOL_URL, App $FAKE_GITHUB_APP_ID (installation $FAKE_GITHUB_INSTALLATION_ID)"
k apply -n corral-system -f "$DIR/fake-github/webhook-secret.yaml" >/dev/null

say "starting corral out of cluster, with the token of its ServiceAccount"
token=$(k create token corral -n corral-system --duration=24h)
server=$(k config view -o jsonpath='{.clusters[0].cluster.server}')
(umask 077; cat > "$DIR/corral.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server", insecure-skip-tls-verify: true}}]
users: [{name: corral, user: {token: "$token"}}]
contexts: [{name: local, context: {cluster: local, user: corral}}]
current-context: local
KC
)
probe=127.0.0.1:$(free_port)
args=(--kubeconfig "$DIR/corral.kubeconfig" --leader-elect=false --operator-namespace corral-system
      --metrics-bind-address "127.0.0.1:$(free_port)" --health-probe-bind-address "$probe"
      --sweep-interval 5s --orphan-grace 30s)
webhooks=0
help=$("$CORRAL" --help 2>&1 || true)
if [[ $help == *-webhook-secret* ]]; then
  webhooks=1
  args+=(--webhook-bind-address "$webhook_addr" --webhook-secret corral-system/corral-webhook)
fi
bg corral "$CORRAL" "${args[@]}"
until_ok 60 "corral" curl -sf "http://$probe/readyz"

say "creating namespace $NS with the App's credentials Secret, the CA ConfigMap and a RunnerPool"
k create namespace "$NS" >/dev/null
k apply -n "$NS" -f "$DIR/fake-github/github-credentials.yaml" >/dev/null
sed "s|FAKE_GITHUB_POOL_URL|$FAKE_GITHUB_POOL_URL|" "$ROOT/hack/demo/pool.yaml" | k apply -n "$NS" -f - >/dev/null
sed -n '/^spec:/,$p' "$ROOT/hack/demo/pool.yaml" | sed "s|FAKE_GITHUB_POOL_URL|$FAKE_GITHUB_POOL_URL|; s/^/    /"

# status: one line with the pool's status and the fake GitHub's jobs, printed when it changes.
last=
status() {
  local rp jobs
  rp=$(k get rp demo -n "$NS" -o jsonpath='{.status.runners} {.status.idle} {.status.busy} {.status.pending} {.status.queued}' 2>/dev/null) || return 0
  jobs=$(fg jobs 2>/dev/null | awk 'NR>1 {c[$2]++} END {printf "%d %d %d", c["queued"], c["in_progress"], c["completed"]}')
  read -r R I Bz P Q <<<"$rp"
  read -r JQ JR JD <<<"$jobs"
  local line
  line=$(printf 'pool: %s runners (%s idle, %s busy, %s starting), %s jobs queued for it | GitHub: %s jobs waiting, %s running, %s done' \
    "${R:-0}" "${I:-0}" "${Bz:-0}" "${P:-0}" "${Q:-0}" "${JQ:-0}" "${JR:-0}" "${JD:-0}")
  if [ "$line" != "$last" ]; then log "$line"; last=$line; fi
}

# watch_until SECONDS CONDITION: print status changes until CONDITION (a shell expression over
# R I Bz P Q JQ JR JD) holds.
watch_until() {
  local deadline=$((SECONDS + $1)); shift
  while :; do
    status
    if eval "$1"; then return 0; fi
    if [ $SECONDS -ge $deadline ]; then echo "timed out; logs in $CL/logs" >&2; return 1; fi
    for p in corral fake-github; do
      kill -0 "$(cat "$CL/$p.pid")" 2>/dev/null || { echo "$p exited; see $CL/logs/$p.log" >&2; return 1; }
    done
    sleep 1
  done
}

say "waiting for the pool's warm runner (minIdle: 1)"
watch_until 120 '[ "${I:-0}" -ge 1 ]'

if [ "$webhooks" = 1 ]; then
  say "queueing $JOBS jobs (runs-on: [$LABELS]); GitHub sends Corral a signed workflow_job webhook for each"
  echo "    Corral wants busy + minIdle + queued runners, at most maxRunners (5)."
else
  say "queueing $JOBS jobs (runs-on: [$LABELS])"
  echo "    This corral build has no webhook receiver: it learns that runners are busy from its"
  echo "    GitHub sweep (every 5s) and keeps minIdle idle runners beside the busy ones."
fi
fg queue -count "$JOBS" -labels "$LABELS" | sed 's/^/    /'
watch_until 300 '[ "${JD:-0}" -ge "$JOBS" ] && [ "${R:-0}" -eq 1 ] && [ "${I:-0}" -eq 1 ]'

say "all $JOBS jobs ran, each on a fresh runner; the pool is back to its one warm runner"
k get rp,pods -n "$NS" -o wide | sed '/^$/d; s/^/    /'
echo "    The GitHub API calls Corral made:"
fg calls | sed 's/^/    /'

cat <<EOF

${B}Poke at it${N} (in another terminal):
    export KUBECONFIG=$CL/kubeconfig PATH=$K8S_BIN:\$PATH
    kubectl get rp,pods -n $NS -w                       # watch the pool
    $DIR/bin/fake-github -dir $DIR/fake-github queue -count 10 -labels $LABELS
    $DIR/bin/fake-github -dir $DIR/fake-github jobs     # or: runners, deliveries, calls
    kubectl patch rp demo -n $NS --type merge -p '{"spec":{"minIdle":3}}'
    kubectl delete rp demo -n $NS                       # drains the pool
  Logs: $CL/logs/{corral,fake-github,kube-apiserver,...}.log
EOF

if [ "$WAIT" = 1 ]; then
  say "the demo keeps running; Ctrl-C stops it and everything it started"
  while :; do
    for p in corral fake-github; do
      kill -0 "$(cat "$CL/$p.pid")" 2>/dev/null || { echo "$p exited; see $CL/logs/$p.log" >&2; exit 1; }
    done
    sleep 1
  done
fi
