#!/usr/bin/env bash
# images.sh build|push [controller] [runner]: build or push Corral's images with podman, or
# buildah when podman is missing (CONTAINER_ENGINE picks one). `make images` and
# `make images-push` call it; the release workflow calls those.
# images.sh login HOST: log the engine in to HOST as REGISTRY_USER, password on stdin
# (`make registry-login`).
#   controller: Dockerfile, context the repository, name CONTROLLER_IMAGE (name:tag)
#   runner:     hack/runner-image/Containerfile, context hack/, name RUNNER_IMAGE (name:tag)
# PLATFORMS is a comma-separated list (linux/amd64,linux/arm64); more than one makes a
# manifest list, pushed with all its images. VERSION is stamped into the controller;
# RUNNER_VERSION, when set, is the actions/runner release the runner image gets.
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:?usage: images.sh build|push [controller] [runner] | login HOST}
shift
engine=${CONTAINER_ENGINE:-$(command -v podman || command -v buildah || true)}
if [ -z "$engine" ] || ! command -v "$engine" >/dev/null; then
  echo "images.sh: no container engine: install podman or buildah (apt-get install podman)," \
    "or set CONTAINER_ENGINE to one" >&2
  exit 1
fi

if [ "$action" = login ]; then
  "$engine" login "${1:?usage: images.sh login HOST}" -u "${REGISTRY_USER:?REGISTRY_USER is not set}" --password-stdin
  exit
fi

[ $# -gt 0 ] || set -- controller runner
: "${CONTROLLER_IMAGE:?CONTROLLER_IMAGE (name:tag) is not set}"
: "${RUNNER_IMAGE:?RUNNER_IMAGE (name:tag) is not set}"
: "${PLATFORMS:?PLATFORMS (e.g. linux/amd64,linux/arm64) is not set}"
VERSION=${VERSION:-dev}

# multi: several platforms, so the name is a manifest list.
multi=false
case "$PLATFORMS" in *,*) multi=true ;; esac

# build NAME CONTAINERFILE CONTEXT [BUILD ARGS...]
build() {
  local name=$1 file=$2 context=$3
  shift 3
  local out=(-t "$name")
  if $multi; then
    # --manifest adds to an existing list: start from an empty one, not the last build's.
    "$engine" manifest rm "$name" >/dev/null 2>&1 || true
    out=(--manifest "$name")
  fi
  echo "building $name for $PLATFORMS with $(basename "$engine")"
  if ! "$engine" build --platform "$PLATFORMS" "${out[@]}" -f "$file" "$@" "$context"; then
    echo "images.sh: building $name failed (the engine's error is above). The build pulls its" \
      "base images (FROM lines of $file) from docker.io and gcr.io: this machine must reach" \
      "them, or a mirror set in /etc/containers/registries.conf. Foreign platforms need" \
      "QEMU user emulation for RUN steps (qemu-user-static)." >&2
    exit 1
  fi
}

push() {
  local name=$1
  echo "pushing $name"
  if $multi; then
    "$engine" manifest push --all "$name" "docker://$name"
  else
    "$engine" push "$name" "docker://$name"
  fi
}

for image in "$@"; do
  case "$image:$action" in
    controller:build) build "$CONTROLLER_IMAGE" Dockerfile . --build-arg "VERSION=$VERSION" ;;
    runner:build) build "$RUNNER_IMAGE" hack/runner-image/Containerfile hack ${RUNNER_VERSION:+--build-arg "RUNNER_VERSION=$RUNNER_VERSION"} ;;
    controller:push) push "$CONTROLLER_IMAGE" ;;
    runner:push) push "$RUNNER_IMAGE" ;;
    *) echo "images.sh: unknown image or action: $image $action" >&2; exit 2 ;;
  esac
done
