#!/usr/bin/env bash
# Prepare this machine for test/sandbox (make test-sandbox): install the Debian packages the
# test needs on the host, turn on IPv4 forwarding as on a Kubernetes node, then build the cached
# test images (hack/sandbox/build-images.sh).
# Exits 0 without doing anything when the machine cannot run the test (not root, not Debian/apt);
# the test then skips and says which prerequisite is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
HOST_PACKAGES=(podman runc debootstrap busybox-static)

if [ "$(id -u)" != 0 ]; then
  echo "sandbox setup skipped: needs root (root podman runs the outer container)"; exit 0
fi
missing=()
for p in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "sandbox setup skipped: missing ${missing[*]} and no apt-get"; exit 0
  fi
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Like every Kubernetes node: new network namespaces (the pod's, and rootless podman's
# inside it) inherit IPv4 forwarding, which nested named networks need.
sysctl -qw net.ipv4.ip_forward=1
"$HERE/build-images.sh"
