#!/usr/bin/env bash
# Build what a real node needs, from the Go module proxy only (issue 15): kubelet (through
# hack/build-k8s-binaries.sh), containerd 2.x with its runc shim and ctr, runc 1.5 (cgo, with
# libseccomp from Debian), and the CNI plugins the node's bridge network uses.
#   hack/node/build.sh            # into bin/node/ (kubelet into bin/k8s/<version>-<os>-<arch>/)
# A binary is rebuilt only when missing or built for another version (stamp files).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
K8S_VERSION=${K8S_VERSION:-1.36.3}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-2.4.2}
RUNC_VERSION=${RUNC_VERSION:-1.5.3}
CNI_VERSION=${CNI_VERSION:-1.10.0}
OUT=${NODE_BIN:-$ROOT/bin/node}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
mkdir -p "$OUT/cni"

current() { [ -x "$OUT/$1" ] && [ "$(cat "$OUT/.$(basename "$1").version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" > "$OUT/.$(basename "$1").version"; }

# kubelet: same wrapper module as the control plane (static, version stamped).
K8S_VERSION=$K8S_VERSION COMPONENTS=kubelet WITH_ETCD=0 "$ROOT/hack/build-k8s-binaries.sh"

if ! current containerd "$CONTAINERD_VERSION"; then
  echo "building containerd v$CONTAINERD_VERSION (static, no btrfs/devmapper snapshotters)"
  ld="-s -w -X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION"
  for c in containerd containerd-shim-runc-v2 ctr; do
    CGO_ENABLED=0 GOBIN="$OUT" go install -trimpath -tags "no_btrfs no_devmapper" -ldflags "$ld" \
      "github.com/containerd/containerd/v2/cmd/$c@v$CONTAINERD_VERSION"
  done
  stamp containerd "$CONTAINERD_VERSION"
fi

if ! current runc "$RUNC_VERSION"; then
  echo "building runc v$RUNC_VERSION (cgo, seccomp through Debian's libseccomp)"
  if ! pkg-config --exists libseccomp 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq libseccomp-dev pkg-config >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq libseccomp-dev pkg-config >/dev/null; }
    else
      echo "runc needs libseccomp-dev and pkg-config (Debian: apt-get install libseccomp-dev pkg-config)" >&2; exit 1
    fi
  fi
  CGO_ENABLED=1 GOBIN="$OUT" go install -trimpath -tags seccomp \
    -ldflags "-s -w -X main.version=$RUNC_VERSION" "github.com/opencontainers/runc@v$RUNC_VERSION"
  stamp runc "$RUNC_VERSION"
fi

if ! current cni/bridge "$CNI_VERSION"; then
  echo "building CNI plugins v$CNI_VERSION"
  for p in main/bridge main/loopback ipam/host-local meta/portmap; do
    CGO_ENABLED=0 GOBIN="$OUT/cni" go install -trimpath -ldflags "-s -w" \
      "github.com/containernetworking/plugins/plugins/$p@v$CNI_VERSION"
  done
  stamp cni/bridge "$CNI_VERSION"
fi
echo "node binaries ready in $OUT"
