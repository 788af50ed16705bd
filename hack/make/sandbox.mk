# Sandbox proof (issue 5): nested rootless podman inside the pod the builder produces.

EXTRA_TESTS += test-sandbox

.PHONY: test-sandbox
test-sandbox: ## Prove nested rootless podman/buildah in the built runner pod (root, Debian; skips otherwise).
	hack/sandbox/setup.sh
	go test -tags sandbox -count=1 -v ./test/sandbox/...
