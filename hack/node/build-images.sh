#!/usr/bin/env bash
# Build the images of the real-node tier as docker archives for hack/node/up.sh to import
# into containerd (no registry is reachable here):
#   $CACHE/pause.tar   localhost/corral-pause:1         busybox-static, sleeps forever
#   $CACHE/runner.tar  localhost/corral-node-runner:KEY the sandbox proof's runner image
#                      (Debian, podman, buildah; hack/sandbox/build-images.sh) with the
#                      stand-in runner (test/node/standin) as /home/runner/run.sh and the
#                      docker CLI from Debian's docker.io package (the CLI only: jobs talk
#                      to the pod's podman socket, as the actions runner does)
#   (same archive)     localhost/corral-node-runner-userns:KEY the same with subordinate
#                      IDs below 65536 (runner:1001:64535), for pods with hostUsers: false
#   $CACHE/controller.tar localhost/corral:KEY  the controller, built as the Dockerfile does
# Writes $CACHE/images.env (the images' names and archives). Needs root and podman
# (hack/sandbox/setup.sh installs it and builds the sandbox images first).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${CACHE:-$ROOT/.cache/node-images}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

# The sandbox images live in their own cache (CACHE here is this script's).
CACHE="$ROOT/.cache/sandbox" "$ROOT/hack/sandbox/setup.sh" >/dev/null
. "$ROOT/.cache/sandbox/images.env"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

pause=localhost/corral-pause:1
if [ ! -f "$CACHE/pause.tar" ]; then
  mkdir -p "$work/pause/bin"
  cp /bin/busybox "$work/pause/bin/busybox"
  ln -s busybox "$work/pause/bin/sleep"
  tar -C "$work/pause" -cf "$work/pause.tar" .
  podman import -q --change 'ENTRYPOINT ["/bin/sleep","infinity"]' "$work/pause.tar" "$pause" >/dev/null
  podman save -q --format docker-archive -o "$CACHE/pause.tar.tmp" "$pause"
  mv "$CACHE/pause.tar.tmp" "$CACHE/pause.tar"
fi

(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$work/standin" ./test/node/standin)
if [ ! -x "$CACHE/docker" ]; then
  # The CLI only, from Debian's package (no registry or download site is reachable).
  (cd "$work" && { apt-get download -q docker.io >/dev/null 2>&1 || { apt-get update -qq && apt-get download -q docker.io >/dev/null 2>&1; }; } \
    && dpkg-deb -x docker.io_*.deb deb)
  cp "$work/deb/usr/bin/docker" "$CACHE/docker"
fi
cp "$CACHE/docker" "$work/docker"
key=$( { echo "$CORRAL_SANDBOX_RUNNER_IMAGE"; cat "$0"; sha256sum < "$work/standin"; sha256sum < "$work/docker"; } | sha256sum | cut -c1-16)
runner=localhost/corral-node-runner:$key
userns=localhost/corral-node-runner-userns:$key
if [ "$(cat "$CACHE/runner.key" 2>/dev/null)" != "$key" ]; then
  cat > "$work/Containerfile" <<CF
FROM $CORRAL_SANDBOX_RUNNER_IMAGE
COPY --chown=1000:1000 --chmod=0755 standin /home/runner/run.sh
COPY --chmod=0755 docker /usr/bin/docker
CF
  podman build -q -t "$runner" -f "$work/Containerfile" "$work" >/dev/null
  # The same with subordinate IDs that fit a pod user namespace (hostUsers: false), where
  # only IDs 0-65535 exist: the usual runner:100000:65536 cannot be mapped there.
  echo "runner:1001:64535" > "$work/subid"
  cat > "$work/Containerfile.userns" <<CF
FROM $runner
COPY --chmod=0644 subid /etc/subuid
COPY --chmod=0644 subid /etc/subgid
CF
  podman build -q -t "$userns" -f "$work/Containerfile.userns" "$work" >/dev/null
  podman save -q -m --format docker-archive -o "$CACHE/runner.tar.tmp" "$runner" "$userns"
  mv "$CACHE/runner.tar.tmp" "$CACHE/runner.tar"
  podman rmi -f "$userns" "$runner" >/dev/null
  echo "$key" > "$CACHE/runner.key"
fi
# The controller image: the Dockerfile's build (its `go build` line, which test/install
# keeps equal to this one) in the shape of its runtime stage, FROM scratch instead of
# distroless, whose base cannot be pulled here.
version=$(cd "$ROOT" && git describe --tags --always --dirty 2>/dev/null || echo dev)
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$work/corral" ./cmd/corral)
ckey=$(sha256sum < "$work/corral" | cut -c1-16)
controller=localhost/corral:$ckey
if [ "$(cat "$CACHE/controller.key" 2>/dev/null)" != "$ckey" ]; then
  cat > "$work/Containerfile.controller" <<CF
FROM scratch
COPY corral /corral
USER 65532:65532
ENTRYPOINT ["/corral"]
CF
  podman build -q -t "$controller" -f "$work/Containerfile.controller" "$work" >/dev/null
  podman save -q --format docker-archive -o "$CACHE/controller.tar.tmp" "$controller"
  mv "$CACHE/controller.tar.tmp" "$CACHE/controller.tar"
  podman rmi -f "$controller" >/dev/null
  echo "$ckey" > "$CACHE/controller.key"
fi
cat > "$CACHE/images.env" <<ENV
CORRAL_NODE_PAUSE_IMAGE=$pause
CORRAL_NODE_RUNNER_IMAGE=$runner
CORRAL_NODE_USERNS_IMAGE=$userns
CORRAL_NODE_CONTROLLER_IMAGE=$controller
CORRAL_NODE_IMAGES="$CACHE/pause.tar $CACHE/runner.tar $CACHE/controller.tar"
ENV
echo "node images ready ($runner)"
