#!/bin/sh
# Entry point of Corral's reference runner image outside Corral (e.g. `podman run`): start
# the docker-compatible API that `container:` jobs and service containers use, then hand
# over to the runner. Corral's runner pods run the same two steps as their command
# (internal/runner.RunnerScript), so this file is not used there.
set -eu
mkdir -p -m 0700 "${XDG_RUNTIME_DIR:-/var/run/user/1000}"
podman system service --time=0 unix:///var/run/docker.sock &
exec /home/runner/run.sh "$@"
