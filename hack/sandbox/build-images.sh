#!/usr/bin/env bash
# Build the sandbox test images into root podman's storage, cached by their recipe:
#   localhost/corral-sandbox-bb:KEY      the tiny inner image: a busybox-static rootfs
#   localhost/corral-sandbox-runner:KEY  a runner-like Debian image: debootstrap with
#                                        packages.txt, then configure-rootfs.sh (the same two
#                                        steps as the reference runner image), plus the test's
#                                        run.sh, the inner image as a docker-archive and
#                                        this host's podman quirks
# The debootstrapped root filesystem is cached as .cache/sandbox/rootfs-BASEKEY.tar (BASEKEY
# hashes the suite, packages.txt, configure-rootfs.sh and the debootstrap step); KEY hashes
# everything. A rerun with an unchanged recipe only checks that the images exist.
# Writes $CACHE/images.env, which test/sandbox reads.
#
#   CACHE (.cache/sandbox)  MIRROR (http://deb.debian.org/debian)  SUITE (bookworm)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${CACHE:-$ROOT/.cache/sandbox}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
DEBOOTSTRAP_RECIPE=1  # bump when the debootstrap step below changes

hash16() { sha256sum | cut -c1-16; }
basekey=$( { echo "$SUITE $DEBOOTSTRAP_RECIPE"; cat "$HERE/packages.txt" "$HERE/configure-rootfs.sh"; } | hash16)
key=$( { echo "$basekey"; cat "$0"; } | hash16)
runner=localhost/corral-sandbox-runner:$key
inner=localhost/corral-sandbox-bb:$key
base=$CACHE/rootfs-$basekey.tar
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

write_env() {
  cat > "$CACHE/images.env" <<ENV
CORRAL_SANDBOX_RUNNER_IMAGE=$runner
CORRAL_SANDBOX_INNER_IMAGE=$inner
CORRAL_SANDBOX_INNER_ARCHIVE=/usr/share/corral-sandbox/bb.tar
ENV
}

if podman image exists "$runner" && podman image exists "$inner"; then
  write_env
  echo "sandbox images up to date ($key)"
  exit 0
fi

# Drop images and root filesystems of older recipes.
for old in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/corral-sandbox-(runner|bb):' | grep -v ":$key\$" || true); do
  podman rmi -f "$old" >/dev/null || true
done
find "$CACHE" -mindepth 1 -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$basekey.tar" -delete

work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -f "$base" ]; then
  rootfs=$work/rootfs
  pkgs=$(grep -v '^[[:space:]]*#' "$HERE/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
  echo "debootstrap $SUITE with: $pkgs"
  debootstrap --variant=minbase --include="$pkgs" "$SUITE" "$rootfs" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
  cp "$HERE/configure-rootfs.sh" "$rootfs/configure-rootfs.sh"
  chroot "$rootfs" /configure-rootfs.sh
  rm -rf "$rootfs/configure-rootfs.sh" "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # --xattrs keeps security.capability on newuidmap/newgidmap.
  tar --xattrs --xattrs-include='security.capability' -C "$rootfs" -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf "$rootfs"
fi

# Inner image: busybox-static, its applet links, a page for httpd.
bb=$work/bb
mkdir -p "$bb/bin" "$bb/www" "$bb/tmp" "$bb/etc"
cp /bin/busybox "$bb/bin/busybox"
for applet in $("$bb/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$bb/bin/$applet"
done
echo 'hello from the inner image' > "$bb/www/index.html"
echo 'root:x:0:0:root:/:/bin/sh' > "$bb/etc/passwd"
echo 'root:x:0:' > "$bb/etc/group"
echo 'hosts: files dns' > "$bb/etc/nsswitch.conf"
tar -C "$bb" -cf "$work/bb.tar" .
podman import -q --change 'CMD ["/bin/sh"]' "$work/bb.tar" "$inner" >/dev/null

# Test additions on top of the cached root filesystem (appended entries win on extraction).
add=$work/add
mkdir -p "$add/etc/containers" "$add/usr/share/corral-sandbox" "$add/home/runner"
# This host's quirks, not the runner image's: cgroup v1 hybrid (crun refuses it) and no
# journald. The pod's own ~/.config/containers/containers.conf is layered on top.
cat > "$add/etc/containers/containers.conf" <<'CONF'
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
# Stand-in for the actions runner's run.sh: runs the script the test passes in.
cat > "$add/home/runner/run.sh" <<'RUN'
#!/bin/sh
exec /bin/bash -c "$CORRAL_SANDBOX_SCRIPT"
RUN
chmod 0755 "$add/home/runner/run.sh"
podman save -q --format docker-archive -o "$add/usr/share/corral-sandbox/bb.tar" "$inner"
cp "$base" "$work/runner.tar"
tar -C "$add" -rf "$work/runner.tar" ./etc/containers/containers.conf ./usr/share/corral-sandbox
tar -C "$add" -rf "$work/runner.tar" --owner=1000 --group=1000 --numeric-owner ./home/runner/run.sh
podman import -q --change 'USER 1000:1000' --change 'WORKDIR /home/runner' --change 'ENV HOME=/home/runner' \
  "$work/runner.tar" "$runner" >/dev/null
write_env
echo "built sandbox images ($key)"
