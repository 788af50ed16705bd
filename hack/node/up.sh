#!/usr/bin/env bash
# Join one real node to a control plane started by hack/cluster/up.sh: containerd 2.x with
# runc 1.5 and a CNI bridge, and a kubelet, all built by hack/node/build.sh; the images in
# $IMAGES (OCI or docker archives, e.g. from hack/node/build-images.sh) are imported into
# containerd, since no registry is reachable. Needs root. Everything lives under $D and is
# removed by hack/node/down.sh (processes, mounts, network namespaces, the bridge, cgroups).
#
#   D=.cache/node KUBECONFIG=.cache/node-cluster/kubeconfig hack/node/up.sh
#
# Environment: D (state, default .cache/node), KUBECONFIG (the control plane's admin
# kubeconfig, required), NODE_NAME (corral-node), NODE_BIN (bin/node), BIN (bin/k8s/<ver>..),
# IMAGES (space-separated archives), PAUSE_IMAGE (localhost/corral-pause:1, the archive among
# IMAGES), POD_CIDR (10.244.0.0/24), SERVICE_CIDR (10.96.0.0/16), BRIDGE (corral0), READY_TIMEOUT (90), OWNER_PID (when
# set, a watchdog runs down.sh as soon as that process is gone).
set -euo pipefail
set -m

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
K8S_VERSION=${K8S_VERSION:-1.36.3}
BIN=${BIN:-$ROOT/bin/k8s/${K8S_VERSION}-$(go env GOOS)-$(go env GOARCH)}
NODE_BIN=${NODE_BIN:-$ROOT/bin/node}
D=${D:-$ROOT/.cache/node}
NODE_NAME=${NODE_NAME:-corral-node}
PAUSE_IMAGE=${PAUSE_IMAGE:-localhost/corral-pause:1}
POD_CIDR=${POD_CIDR:-10.244.0.0/24}
SERVICE_CIDR=${SERVICE_CIDR:-10.96.0.0/16} # hack/cluster/up.sh's --service-cluster-ip-range
BRIDGE=${BRIDGE:-corral0}
READY_TIMEOUT=${READY_TIMEOUT:-90}
. "$HERE/host-paths.sh"
: "${KUBECONFIG:?set KUBECONFIG to the admin kubeconfig of the control plane}"

[ "$(id -u)" = 0 ] || { echo "a real node needs root" >&2; exit 1; }
for b in "$BIN/kubelet" "$NODE_BIN/containerd" "$NODE_BIN/containerd-shim-runc-v2" "$NODE_BIN/ctr" "$NODE_BIN/runc" "$NODE_BIN/cni/bridge"; do
  [ -x "$b" ] || { echo "missing $b: run hack/node/build.sh" >&2; exit 1; }
done
mkdir -p "$D"
D=$(cd "$D" && pwd)
# Pods in a user namespace (hostUsers: false) must traverse every directory down to their
# root filesystems, as unprivileged users of the host.
p=$D
while [ "$p" != / ]; do
  [ $(( 0$(stat -c %a "$p") & 01 )) -ne 0 ] || { echo "$p is not searchable by other users: pods with hostUsers: false cannot start below it (chmod o+x)" >&2; exit 1; }
  p=$(dirname "$p")
done
for f in "$D"/*.pid; do
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && { echo "a node already runs in $D; stop it with D=$D $HERE/down.sh" >&2; exit 1; }
done
rm -f "$D"/*.pid
mkdir -p "$D/logs" "$D/cni" "$D/kubelet" "$D/containerd" "$D/state" "$D/pod-logs"
SOCK=$D/state/containerd.sock
# A few paths are fixed in the kubelet and containerd whatever their root: record which
# existed before, so that down.sh removes only what this node made.
: > "$D/preexisting"
for p in $HOST_PATHS; do [ -e "$p" ] && echo "$p" >> "$D/preexisting"; done
export PATH="$NODE_BIN:$PATH" # containerd finds its shim on PATH

cleanup_on_error() { echo "node start failed; logs in $D/logs" >&2; D="$D" "$HERE/down.sh" >&2 || true; }
trap cleanup_on_error ERR

start() {
  local n=$1; shift
  "$@" > "$D/logs/$n.log" 2>&1 &
  echo $! > "$D/$n.pid"
  disown
}
# ready PROCESS CMD...: retries CMD until it succeeds, failing early once PROCESS (started with
# start) has exited.
ready() {
  local n=$1 deadline=$((SECONDS + READY_TIMEOUT)); shift
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$D/$n.pid")" 2>/dev/null; then
      echo "$n exited; last lines of $D/logs/$n.log:" >&2; tail -n 30 "$D/logs/$n.log" >&2; return 1
    fi
    [ $SECONDS -lt $deadline ] || { echo "$n not ready after ${READY_TIMEOUT}s" >&2; return 1; }
    sleep 0.3
  done
}
ctr() { "$NODE_BIN/ctr" --address "$SOCK" -n k8s.io "$@"; }
k() { "$BIN/kubectl" --kubeconfig="$KUBECONFIG" "$@"; }

# Pods reach each other and the node through a bridge; no masquerading, no port maps, and
# no default route: only the Service range goes through the node (for the API server, see
# below; the only iptables rule).
cat > "$D/cni/10-corral.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "corral-node",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "dataDir": "$D/cni/ipam",
              "routes": [{"dst": "$SERVICE_CIDR"}]}},
    {"type": "loopback"}
  ]
}
CNI

# restrict_oom_score_adj: this machine's root lacks CAP_SYS_RESOURCE, and the pause
# container asks for oom_score_adj -998 (runc then fails "can't get final child's PID").
cat > "$D/containerd.toml" <<TOML
version = 3
root = "$D/containerd/root"
state = "$D/containerd/state"
[grpc]
  address = "$SOCK"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$NODE_BIN/runc"
        Root = "$D/state/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$NODE_BIN/cni"]
    conf_dir = "$D/cni"
TOML
# Nested Isolated networking opens /dev/net/tun as the runner's user; nodes ship it 0666
# (this VM has 0600). down.sh restores the mode recorded here.
if [ -c /dev/net/tun ]; then
  stat -c %a /dev/net/tun > "$D/tun-mode"
  chmod 0666 /dev/net/tun
fi
start containerd "$NODE_BIN/containerd" --config "$D/containerd.toml"
ready containerd ctr version

for img in ${IMAGES:-}; do
  ctr images import --all-platforms "$img" >/dev/null
done
ctr images ls -q | grep -qxF "$PAUSE_IMAGE" || { echo "the pause image $PAUSE_IMAGE is not among IMAGES" >&2; false; }

# cgroupfs and failCgroupV1: this machine has cgroup v1 and no systemd. The kubelet serves
# on 127.0.0.1 only, and answers no one (the API server has no kubelet client certificate
# here): the tests learn results from the stand-in's reports and the kubelet's events. The
# admin token is its identity.
KUBELET_PORT=${KUBELET_PORT:-$((20000 + RANDOM % 30000))}
HEALTHZ_PORT=${HEALTHZ_PORT:-$((20000 + RANDOM % 30000))}
cat > "$D/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
authorization: {mode: Webhook}
clusterDNS: []
failSwapOn: false
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: "100Mi"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
podCIDR: $POD_CIDR
maxPods: 50
podLogsDir: $D/pod-logs
YAML
start kubelet "$BIN/kubelet" --config="$D/kubelet.yaml" --kubeconfig="$KUBECONFIG" \
  --root-dir="$D/kubelet" --cert-dir="$D/kubelet/pki" \
  --hostname-override="$NODE_NAME" \
  --node-labels=corral.run/real-node=true
ready kubelet curl -sf "http://127.0.0.1:$HEALTHZ_PORT/healthz"
# The node turns Ready once the kubelet has registered it and found the CNI config; on a cold
# machine that takes longer than one wait, so it is retried for as long as the kubelet lives.
ready kubelet k wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s

# The node has no kube-proxy. Its pods reach the API server the way in-cluster clients do,
# at the kubernetes Service (KUBERNETES_SERVICE_HOST, whose address the API server's
# certificate names): one DNAT rule from the pod bridge to the API server on 127.0.0.1
# (route_localnet on the bridge only), as kube-proxy does for localhost. No other Service
# is routed. down.sh deletes the rule by its comment.
SVC_IP=$(k get service kubernetes -n default -o jsonpath='{.spec.clusterIP}')
SVC_PORT=$(k get service kubernetes -n default -o jsonpath='{.spec.ports[0].port}')
API_PORT=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}' | sed -E 's|.*:([0-9]+)/?$|\1|')
ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
ip addr show dev "$BRIDGE" | grep -qF " ${POD_CIDR%.*}.1/" || ip addr add "${POD_CIDR%.*}.1/${POD_CIDR#*/}" dev "$BRIDGE"
ip link set "$BRIDGE" up
sysctl -qw "net.ipv4.conf.$BRIDGE.route_localnet=1"
iptables -t nat -A PREROUTING -i "$BRIDGE" -d "$SVC_IP" -p tcp --dport "$SVC_PORT" \
  -m comment --comment "corral-node $D" -j DNAT --to-destination "127.0.0.1:$API_PORT"

cat > "$D/env" <<ENV
NODE_NAME=$NODE_NAME
CONTAINERD_ADDRESS=$SOCK
KUBELET_PORT=$KUBELET_PORT
POD_CIDR=$POD_CIDR
BRIDGE=$BRIDGE
ENV
if [ -n "${OWNER_PID:-}" ]; then
  . "$ROOT/hack/lib/watchdog.sh"
  start_watchdog "$OWNER_PID" "$D" "$HERE/down.sh"
fi
trap - ERR
echo "node $NODE_NAME ready (containerd at $SOCK, logs in $D/logs)"
