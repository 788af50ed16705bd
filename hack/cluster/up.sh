#!/usr/bin/env bash
# Start a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
# plus kwok, which fakes the kubelets of the nodes in hack/cluster/nodes.yaml: pods are
# scheduled and go Running without a container runtime. Nothing is downloaded: the binaries
# come from hack/build-k8s-binaries.sh (`make cluster-up` builds them first).
#
#   hack/cluster/up.sh                    # -> .cache/cluster/{kubeconfig,env,logs/}
#   export KUBECONFIG=$PWD/.cache/cluster/kubeconfig
#   hack/cluster/down.sh                  # stops everything up.sh started, by PID
#
# Environment (all optional):
#   D            state directory (kubeconfig, PID files, logs, etcd data); default .cache/cluster.
#                Several clusters run side by side when each has its own D.
#   BIN          directory holding etcd kube-apiserver kube-controller-manager kube-scheduler
#                kubectl kwok; default bin/k8s/<version>-<os>-<arch>
#   ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT KWOK_PORT
#                ports on 127.0.0.1; each one not given is a free port picked at random
#   NODES        node manifests applied once the API is up; default hack/cluster/nodes.yaml;
#                none applies none (hack/node/up.sh then joins a real node)
#   INSTALL      a kustomize directory (or manifest file) applied before kube-controller-manager
#                starts, e.g. hack/cluster/install: its garbage collector then watches those
#                custom resources from the start (it discovers new kinds only every 30 s, so
#                objects owned by a custom resource created earlier are collected late)
#   AUDIT_POLICY an audit policy file: the API server then logs the events it selects, as
#                JSON lines, to $D/logs/audit.log (test/bench counts corral's writes there)
#   OWNER_PID    when set, a watchdog runs down.sh as soon as this process is gone (tests
#                that die without cleaning up leave nothing behind)
#   READY_TIMEOUT seconds to wait for each component (default 90)
#
# It writes $D/env (ports and KUBECONFIG, shell syntax) and refuses to start over a running
# instance in the same D.
set -euo pipefail
set -m # own process group per child: a Ctrl-C in the terminal reaches only our caller,
       # which then stops the components in order (down.sh)

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
K8S_VERSION=${K8S_VERSION:-1.36.3}
BIN=${BIN:-$ROOT/bin/k8s/${K8S_VERSION}-$(go env GOOS)-$(go env GOARCH)}
D=${D:-$ROOT/.cache/cluster}
NODES=${NODES:-$HERE/nodes.yaml}
READY_TIMEOUT=${READY_TIMEOUT:-90}
KUBECTL="$BIN/kubectl"

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: run 'make cluster-up' (it builds the binaries)" >&2; exit 1; }
done

mkdir -p "$D"
D=$(cd "$D" && pwd)
for f in "$D"/*.pid; do
  [ -f "$f" ] || continue
  if kill -0 "$(cat "$f")" 2>/dev/null; then
    echo "a cluster is already running in $D ($(basename "$f" .pid) PID $(cat "$f")); stop it with D=$D $HERE/down.sh or choose another D" >&2
    exit 1
  fi
  rm -f "$f"
done
rm -rf "$D/etcd"
mkdir -p "$D/pki" "$D/etcd" "$D/logs"

# Ports given in the environment are fixed; the others are picked just before their component
# starts, and picked again if another process grabbed one meanwhile ("address already in use").
fixed=" "
for v in ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT KWOK_PORT; do
  if [ -n "${!v:-}" ]; then fixed+="$v "; fi
done

# pick_port VAR: unless VAR is fixed, set it to a port nobody listens on.
pick_port() {
  local var=$1 p
  case "$fixed" in *" $var "*) return ;; esac
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf -v "$var" '%s' "$p"; return; fi
  done
  echo "no free port found for $var" >&2; return 1
}

cleanup_on_error() { echo "cluster start failed; logs in $D/logs" >&2; D="$D" "$HERE/down.sh" >&2 || true; }
trap cleanup_on_error ERR

[ -f "$D/pki/sa.key" ] || {
  openssl genrsa -out "$D/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$D/pki/sa.key" -pubout -out "$D/pki/sa.pub" 2>/dev/null
}
TOKEN=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "${TOKEN},admin,admin,system:masters" > "$D/pki/tokens.csv"
chmod 600 "$D/pki/tokens.csv"

# write_kubeconfig: the admin kubeconfig (a static token in system:masters; the API server's
# self-signed certificate is not verified: this cluster is local only).
write_kubeconfig() {
  (umask 077; cat > "$D/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: corral-local
  cluster: {server: "https://127.0.0.1:${APISERVER_PORT}", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "${TOKEN}"}
contexts:
- name: corral-local
  context: {cluster: corral-local, user: admin}
current-context: corral-local
KC
  )
}

# start NAME CMD...: run CMD in the background, log to logs/NAME.log, record its PID.
start() {
  local n=$1; shift
  "$@" > "$D/logs/$n.log" 2>&1 &
  echo $! > "$D/$n.pid"
  disown
}

# ready NAME CMD...: retry CMD until it succeeds. Returns 1 after READY_TIMEOUT, 2 when the
# component exited (3 when because a port was taken).
ready() {
  local n=$1 deadline=$((SECONDS + READY_TIMEOUT)); shift
  until "$@" >/dev/null 2>&1; do
    if [ -f "$D/$n.pid" ] && ! kill -0 "$(cat "$D/$n.pid")" 2>/dev/null; then
      rm -f "$D/$n.pid"
      if grep -q "address already in use" "$D/logs/$n.log"; then return 3; fi
      echo "$n exited; last lines of $D/logs/$n.log:" >&2; tail -n 20 "$D/logs/$n.log" >&2; return 2
    fi
    if [ $SECONDS -ge $deadline ]; then echo "$n not ready after ${READY_TIMEOUT}s" >&2; return 1; fi
    sleep 0.2
  done
}

# launch NAME "PORTVARS" RUN CHECK...: pick the ports, RUN (a function starting NAME), wait
# until CHECK succeeds; on a port taken meanwhile, try again with other ports.
launch() {
  local n=$1 vars=$2 run=$3 rc; shift 3
  for attempt in 1 2 3 4 5; do
    for v in $vars; do pick_port "$v"; done
    "$run"
    rc=0; ready "$n" "$@" || rc=$?
    [ $rc -eq 3 ] || return $rc
    local movable=0
    for v in $vars; do case "$fixed" in *" $v "*) ;; *) movable=1 ;; esac; done
    if [ $movable = 0 ]; then echo "$n: a port in $vars is already in use" >&2; return 2; fi
    echo "$n: a port was taken meanwhile, retrying with others (attempt $attempt)" >&2
  done
  return 1
}

k() { "$KUBECTL" --kubeconfig="$D/kubeconfig" "$@"; }

run_etcd() {
  start etcd "$BIN/etcd" --name=local --data-dir="$D/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="local=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
}
etcd_ready() { curl -sf "http://127.0.0.1:$ETCD_PORT/health"; }

run_apiserver() {
  write_kubeconfig
  local audit=()
  if [ -n "${AUDIT_POLICY:-}" ]; then
    rm -f "$D/logs/audit.log" # this API server's events only
    audit=(--audit-policy-file="$AUDIT_POLICY" --audit-log-path="$D/logs/audit.log" --audit-log-format=json)
  fi
  start kube-apiserver "$BIN/kube-apiserver" "${audit[@]}" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --advertise-address=127.0.0.1 \
    --cert-dir="$D/pki" \
    --token-auth-file="$D/pki/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$D/pki/sa.pub" \
    --service-account-signing-key-file="$D/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --allow-privileged=true \
    --shutdown-delay-duration=0s --shutdown-send-retry-after=false
}

run_kcm() {
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$D/kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
    --service-account-private-key-file="$D/pki/sa.key" \
    --root-ca-file="$D/pki/apiserver.crt" \
    --use-service-account-credentials=false
}

run_scheduler() {
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$D/kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT"
}

# kwok: the stock "fast" stages (node init, lease heartbeat, pod ready/complete/delete) and
# runner-finish (a runner pod terminates with the exit code in an annotation).
# --node-lease-duration-seconds keeps the fake nodes Ready past the node monitor grace period.
run_kwok() {
  start kwok "$BIN/kwok" \
    --kubeconfig="$D/kubeconfig" \
    --config="$HERE/kwok-stages.yaml" --config="$HERE/runner-finish-stage.yaml" \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds=40 \
    --server-address="127.0.0.1:$KWOK_PORT"
}

kcm_ready() { curl -skf "https://127.0.0.1:$KCM_PORT/healthz"; }
scheduler_ready() { curl -skf "https://127.0.0.1:$SCHEDULER_PORT/healthz"; }
kwok_ready() { curl -sf "http://127.0.0.1:$KWOK_PORT/healthz"; }

launch etcd "ETCD_PORT ETCD_PEER_PORT" run_etcd etcd_ready
launch kube-apiserver APISERVER_PORT run_apiserver k get --raw /readyz
if [ -n "${INSTALL:-}" ]; then
  if [ -d "$INSTALL" ]; then k apply --server-side --force-conflicts -k "$INSTALL" >/dev/null
  else k apply --server-side --force-conflicts -f "$INSTALL" >/dev/null; fi
fi
launch kube-controller-manager KCM_PORT run_kcm kcm_ready
launch kube-scheduler SCHEDULER_PORT run_scheduler scheduler_ready
launch kwok KWOK_PORT run_kwok kwok_ready

cat > "$D/env" <<ENV
KUBECONFIG=$D/kubeconfig
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
KWOK_PORT=$KWOK_PORT
ENV

# Pods are refused until kube-controller-manager created the namespace's default ServiceAccount.
ready "default ServiceAccount" k get serviceaccount default -n default
if [ "$NODES" != none ]; then
  k apply -f "$NODES" >/dev/null
  ready "fake nodes" k wait --for=condition=Ready node --all --timeout=5s
fi

if [ -n "${OWNER_PID:-}" ]; then
  . "$ROOT/hack/lib/watchdog.sh"
  start_watchdog "$OWNER_PID" "$D" "$HERE/down.sh"
fi
trap - ERR
echo "cluster up: export KUBECONFIG=$D/kubeconfig (API https://127.0.0.1:$APISERVER_PORT, logs in $D/logs)"
