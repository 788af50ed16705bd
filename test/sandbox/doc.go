// Package sandbox proves that the runner pod Corral builds can run nested rootless podman.
//
// The test (build tag sandbox, `make test-sandbox`) takes the pod that runner.BuildPod
// returns, translates each container into the `podman run` flags under which root podman
// and runc run it the way kubelet and containerd would (user, capabilities, seccomp profile,
// privilege escalation, read-only root, volumes), runs the init container and then the
// runner container in a runner-like image (hack/sandbox), and inside it, as UID 1000, runs
// podman and buildah the way a job does. Negative cases flip one setting of the built pod
// and expect a specific, readable failure, so the test fails when the builder drifts.
//
// The translation itself (outer.go) is pure and unit-tested without the tag.
package sandbox
