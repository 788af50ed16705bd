# End-to-end suite and local demo (issue 9): a local control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) with kwok fake nodes, the fake GitHub process and
# the corral binary. Included by the top-level Makefile.

E2E_TIMEOUT ?= 20m
# Extra arguments for the e2e go test run, e.g. E2E_ARGS="-ginkgo.v -ginkgo.focus=drain".
E2E_ARGS ?=
# Where `make cluster-up` / `make cluster-down` keep their state (logs, kubeconfig).
CLUSTER_DIR ?= $(CURDIR)/.cache/cluster

EXTRA_TESTS += test-e2e

##@ End-to-end

.PHONY: e2e-assets
e2e-assets: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok into bin/k8s/.
	@K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) KWOK_VERSION=$(KWOK_VERSION) OUT=$(K8S_BIN) \
		COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubectl" WITH_KWOK=1 \
		hack/build-k8s-binaries.sh

.PHONY: test-e2e
test-e2e: e2e-assets ## Run the end-to-end suite: the corral binary on a local kwok cluster with the fake GitHub.
	E2E_K8S_BIN=$(K8S_BIN) go test -tags e2e $(GO_TEST_FLAGS) -timeout $(E2E_TIMEOUT) ./test/e2e/ $(E2E_ARGS)

.PHONY: demo
demo: e2e-assets ## Try Corral with no cluster: local control plane, fake GitHub, a pool scaling with a wave of jobs.
	K8S_BIN=$(K8S_BIN) hack/demo/demo.sh

.PHONY: cluster-up
cluster-up: e2e-assets ## Start a local control plane with kwok fake nodes and Corral's CRD (KUBECONFIG=$(CLUSTER_DIR)/kubeconfig).
	D=$(CLUSTER_DIR) BIN=$(K8S_BIN) INSTALL=hack/cluster/install hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local control plane started by cluster-up.
	D=$(CLUSTER_DIR) hack/cluster/down.sh
