#!/bin/sh
# Configure a Debian root filesystem that has hack/sandbox/packages.txt installed so that
# user 1000 can run rootless podman and buildah inside an unprivileged Kubernetes pod.
# Run it as root inside the image: `chroot ROOTFS /configure-rootfs.sh`, or a Dockerfile RUN.
#
#   RUNNER_USER (runner)  RUNNER_UID (1000)  SUBID_START (100000)  SUBID_COUNT (65536)
#
# With hostUsers: false only IDs 0-65535 exist in the pod: pick a range that fits, e.g.
# SUBID_START=1001 SUBID_COUNT=64535 (then images owning files above 64535 cannot be used).
set -eu
user=${RUNNER_USER:-runner}
uid=${RUNNER_UID:-1000}
start=${SUBID_START:-100000}
count=${SUBID_COUNT:-65536}

getent group "$uid" >/dev/null || groupadd --gid "$uid" "$user"
getent passwd "$uid" >/dev/null || useradd --uid "$uid" --gid "$uid" --create-home --shell /bin/bash "$user"
name=$(getent passwd "$uid" | cut -d: -f1)
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  grep -q "^$name:" "$f" || echo "$name:$start:$count" >> "$f"
done

# Debian ships newuidmap/newgidmap setuid root. In a pod without CAP_SYS_ADMIN the setuid
# binaries cannot write uid_map/gid_map ("write to uid_map failed: Operation not permitted").
# File capabilities work (as Fedora ships them); they need allowPrivilegeEscalation: true and
# SETUID/SETGID in the bounding set.
chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap
setcap cap_setuid=ep /usr/bin/newuidmap
setcap cap_setgid=ep /usr/bin/newgidmap
