# Corral Makefile. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
export GOTOOLCHAIN ?= local

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LOCALBIN := $(CURDIR)/bin
GOOS := $(shell go env GOOS)
GOARCH := $(shell go env GOARCH)

# Pinned tool versions. Changing one rebuilds that tool on the next run.
K8S_VERSION ?= 1.36.3
ETCD_VERSION ?= 3.6.16
KWOK_VERSION ?= 0.8.0
CONTROLLER_TOOLS_VERSION ?= v0.21.0

CONTROLLER_GEN := $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
K8S_BIN := $(LOCALBIN)/k8s/$(K8S_VERSION)-$(GOOS)-$(GOARCH)
export KUBEBUILDER_ASSETS := $(K8S_BIN)

GO_TEST_FLAGS ?= -count=1

# Each area adds its own targets (and appends its suites to EXTRA_TESTS) in hack/make/*.mk.
EXTRA_TESTS :=
include $(wildcard hack/make/*.mk)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests under config/.
	$(CONTROLLER_GEN) crd rbac:roleName=corral-manager paths="./api/..." paths="./internal/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/seccomp

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Check gofmt and file sizes (no file over 600 lines).
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@hack/check-file-size.sh

.PHONY: verify
verify: $(CONTROLLER_GEN) ## Regenerate code and manifests; fail if anything changed.
	hack/verify-generated.sh

##@ Test

.PHONY: test
test: tools envtest-assets vet lint verify test-unit $(EXTRA_TESTS) ## Run every test suite (the one command that says the project works).

.PHONY: test-unit
test-unit: envtest-assets ## Run Go tests (unit, golden and envtest suites).
	go test $(GO_TEST_FLAGS) ./...

##@ Build

.PHONY: build
build: ## Build the corral binary into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(LOCALBIN)/corral ./cmd/corral

.PHONY: run
run: manifests ## Install the CRDs into the current kubeconfig's cluster and run the controller locally.
	kubectl apply --server-side -f config/crd/bases
	go run ./cmd/corral --leader-elect=false

##@ Tools

.PHONY: tools
tools: $(CONTROLLER_GEN) ## Build the pinned tools into bin/.

.PHONY: envtest-assets
envtest-assets: ## Build etcd, kube-apiserver and kubectl for envtest into bin/k8s/ (from the Go module proxy).
	@K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) OUT=$(K8S_BIN) COMPONENTS="kube-apiserver kubectl" \
		hack/build-k8s-binaries.sh

$(CONTROLLER_GEN):
	hack/go-install.sh $@ sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_TOOLS_VERSION)
