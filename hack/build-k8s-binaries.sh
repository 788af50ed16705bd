#!/usr/bin/env bash
# Build real Kubernetes control-plane binaries (and etcd, kwok) from the Go module proxy only:
# no release tarballs, no GCS, no git clone. Output layout matches setup-envtest:
#   bin/k8s/<version>-<os>-<arch>/{etcd,kube-apiserver,...}
#
#   hack/build-k8s-binaries.sh                       # envtest set: etcd + kube-apiserver
#   COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubectl" WITH_KWOK=1 \
#     hack/build-k8s-binaries.sh                     # + what the local kwok cluster needs
#
# A binary is rebuilt only when it is missing or was built for another version (a stamp file
# beside it records the version). See docs/development.md for timings.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.36.3}     # k8s.io/kubernetes tag without "v"
ETCD_VERSION=${ETCD_VERSION:-3.6.16}   # go.etcd.io/etcd/server/v3 (Debian's 3.4 is too old for 1.36)
KWOK_VERSION=${KWOK_VERSION:-0.8.0}    # sigs.k8s.io/kwok
COMPONENTS=${COMPONENTS:-"kube-apiserver"}
WITH_ETCD=${WITH_ETCD:-1}
WITH_KWOK=${WITH_KWOK:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bin/k8s/${K8S_VERSION}-$(go env GOOS)-$(go env GOARCH)}
WORK=${WORK:-$ROOT/.cache/k8s-build}

export CGO_ENABLED=0                      # static binaries, like upstream release builds
export GOFLAGS=-mod=mod                   # the wrapper go.mod is generated; let go fill go.sum
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}  # 'auto' would fetch another Go from the proxy
mkdir -p "$OUT" "$WORK/k8s" "$WORK/etcd"

# current NAME VERSION: true when bin NAME exists and was built for VERSION.
current() { [ -x "$OUT/$1" ] && [ "$(cat "$OUT/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" > "$OUT/.$1.version"; }

# ---------------------------------------------------------------- kubernetes
missing=()
for c in $COMPONENTS; do current "$c" "$K8S_VERSION" || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "building ${missing[*]} v${K8S_VERSION} (first build takes ~6 min on 2 cores)"
  staging=v0.${K8S_VERSION#1.}            # staging repos are tagged v0.<minor>.<patch>
  modfile=$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" \
            | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$modfile" ] || { echo "cannot download k8s.io/kubernetes@v${K8S_VERSION}" >&2; exit 1; }
  {
    echo "module k8sbuild"; echo
    echo "go $(sed -n 's/^go //p' "$modfile")"; echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"; echo
    echo "tool ("
    for c in "${missing[@]}"; do echo "	k8s.io/kubernetes/cmd/$c"; done
    echo ")"; echo
    # k8s.io/kubernetes replaces every staging module with ./staging/src/...; a dependency's
    # replace directives are ignored, so pin each one to its published tag.
    echo "replace ("
    grep -E '=> \./staging/' "$modfile" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$WORK/k8s/go.mod"
  (cd "$WORK/k8s" && go mod tidy)
  major=${K8S_VERSION%%.*}; minor=${K8S_VERSION#*.}; minor=${minor%%.*}
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=v${K8S_VERSION} -X $p.gitMajor=${major} -X $p.gitMinor=${minor} -X $p.gitTreeState=clean"
  done
  pkgs=(); for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$WORK/k8s" && go build -trimpath -ldflags "$ldflags" -o "$OUT/" "${pkgs[@]}")
  for c in "${missing[@]}"; do stamp "$c" "$K8S_VERSION"; done
fi

# ---------------------------------------------------------------- etcd
if [ "$WITH_ETCD" = 1 ] && ! current etcd "$ETCD_VERSION"; then
  echo "building etcd v${ETCD_VERSION}"
  # 'go install go.etcd.io/etcd/server/v3@vX' fails (its go.mod has replace directives).
  cat > "$WORK/etcd/go.mod" <<EOM
module etcdbuild

go 1.26

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}

tool go.etcd.io/etcd/server/v3
EOM
  (cd "$WORK/etcd" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
  stamp etcd "$ETCD_VERSION"
fi

# ---------------------------------------------------------------- kwok
if [ "$WITH_KWOK" = 1 ] && ! current kwok "$KWOK_VERSION"; then
  echo "building kwok v${KWOK_VERSION}"
  GOBIN="$OUT" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v${KWOK_VERSION}"
  stamp kwok "$KWOK_VERSION"
fi

echo "k8s binaries ready in $OUT"
