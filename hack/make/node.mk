# Real-node tier (issue 15): Corral's runner pods on one real node (kubelet, containerd, runc
# and a CNI bridge built from the Go module proxy by hack/node/build.sh) joined to the local
# control plane. Needs root. Included by the top-level Makefile.

NODE_TIMEOUT ?= 30m
# Extra arguments for the node go test run, e.g. NODE_ARGS="-ginkgo.focus=Podman".
NODE_ARGS ?=
# The smoke `make test` runs: one None-mode runner through its life on the real node.
NODE_SMOKE_FOCUS ?= None-mode runner

EXTRA_TESTS += test-node-smoke

##@ Real node

.PHONY: node-assets
node-assets: e2e-assets helm ## Build kubelet, containerd, runc and the CNI plugins into bin/ (from the Go module proxy).
	K8S_VERSION=$(K8S_VERSION) hack/node/build.sh

.PHONY: test-node
test-node: node-assets ## Run the real-node suite: runner pods of every sandbox mode on a real kubelet and containerd (root).
	NODE_K8S_BIN=$(K8S_BIN) HELM=$(HELM) go test -tags node $(GO_TEST_FLAGS) -timeout $(NODE_TIMEOUT) ./test/node/ -ginkgo.v $(NODE_ARGS)

.PHONY: test-node-smoke
test-node-smoke: e2e-assets helm ## The real-node suite's smoke (one spec), part of `make test`; skipped unless root.
	@if [ "$$(id -u)" != 0 ]; then echo "test-node-smoke skipped: a real node needs root"; exit 0; fi; \
	K8S_VERSION=$(K8S_VERSION) hack/node/build.sh && \
	NODE_K8S_BIN=$(K8S_BIN) HELM=$(HELM) go test -tags node $(GO_TEST_FLAGS) -timeout 15m ./test/node/ -ginkgo.focus="$(NODE_SMOKE_FOCUS)"
