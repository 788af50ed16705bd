# Real-node tier (issue 15): Corral's runner pods on one real node (kubelet, containerd, runc
# and a CNI bridge built from the Go module proxy by hack/node/build.sh) joined to the local
# control plane. Needs root. Included by the top-level Makefile.

NODE_TIMEOUT ?= 30m
# Extra arguments for the node go test run, e.g. NODE_ARGS="-ginkgo.focus=Podman".
NODE_ARGS ?=
# The smoke: one None-mode runner through its life on the real node.
NODE_SMOKE_FOCUS ?= None-mode runner

# `make test` runs the whole tier: about 3.5 minutes warm, and CI still fits its 90 minutes
# cold (docs/real-node.md has the timings).
EXTRA_TESTS += test-node-ci

##@ Real node

.PHONY: node-assets
node-assets: e2e-assets helm ## Build kubelet, containerd, runc and the CNI plugins into bin/ (from the Go module proxy).
	K8S_VERSION=$(K8S_VERSION) hack/node/build.sh

.PHONY: test-node
test-node: node-assets ## Run the real-node suite: runner pods of every sandbox mode on a real kubelet and containerd (root).
	NODE_K8S_BIN=$(K8S_BIN) HELM=$(HELM) go test -tags node $(GO_TEST_FLAGS) -timeout $(NODE_TIMEOUT) ./test/node/ -ginkgo.v $(NODE_ARGS)

.PHONY: test-node-ci
test-node-ci: e2e-assets helm ## The real-node suite as `make test` runs it: skipped with a reason unless root.
	@if [ "$$(id -u)" != 0 ]; then echo "test-node-ci skipped: a real node needs root"; exit 0; fi; \
	$(MAKE) --no-print-directory test-node

.PHONY: test-node-smoke
test-node-smoke: ## The real-node suite's smoke (one spec); skipped unless root.
	@if [ "$$(id -u)" != 0 ]; then echo "test-node-smoke skipped: a real node needs root"; exit 0; fi; \
	$(MAKE) --no-print-directory test-node NODE_ARGS='-ginkgo.focus="$(NODE_SMOKE_FOCUS)"'
