# Install paths (issue 8): the Helm chart, kustomize, the controller and runner images and the
# Argo CD health check. Included by the top-level Makefile.

HELM_VERSION ?= v3.22.0
HELM := $(LOCALBIN)/helm-$(HELM_VERSION)
CHART_DIR := charts/corral

EXTRA_TESTS += test-install

# The full benchmark runs corral with the GOMEMLIMIT the chart sets, which it renders with helm.
bench: $(HELM)

# `make manifests` also refreshes the copies the chart and config/default carry (Helm and
# kustomize cannot read files outside their directories). This prerequisite runs before the
# manifests recipe, so it generates with the recipe's own generators (controller-gen with the
# same arguments, into a scratch directory; hack/seccomp's profile) instead of copying
# config/, which would still be stale on a first run; the admission policy is written by
# hand and copied. test/install fails if a copy differs from config/ (e.g. when the
# arguments drift).
manifests: install-manifests

##@ Install paths

.PHONY: install-manifests
install-manifests: $(CONTROLLER_GEN) ## Refresh the chart's and config/default's copies of the CRDs, RBAC rules, admission policy and seccomp profile.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(CONTROLLER_GEN) crd rbac:roleName=corral-manager paths="./api/..." paths="./internal/..." \
		output:crd:artifacts:config="$$tmp/crd" output:rbac:artifacts:config="$$tmp/rbac"; \
	mkdir -p $(CHART_DIR)/files/crds $(CHART_DIR)/files/rbac $(CHART_DIR)/files/admission $(CHART_DIR)/files/seccomp config/default/generated; \
	rm -f $(CHART_DIR)/files/crds/*.yaml config/default/generated/*.yaml; \
	cp "$$tmp"/crd/*.yaml $(CHART_DIR)/files/crds/; \
	cp "$$tmp"/crd/*.yaml config/default/generated/; \
	cp "$$tmp/rbac/role.yaml" $(CHART_DIR)/files/rbac/role.yaml; \
	cp "$$tmp/rbac/role.yaml" config/default/generated/role.yaml; \
	cp config/admission/runnerclass-policy.yaml $(CHART_DIR)/files/admission/runnerclass-policy.yaml; \
	go run ./hack/seccomp -o $(CHART_DIR)/files/seccomp/podman.json

.PHONY: test-install
test-install: envtest-assets $(HELM) actionlint ## Test the chart (lint, renderings, schema), kustomize, samples, Argo CD Lua, docs, the image builds and the workflows.
	CORRAL_INSTALL_TESTS=1 HELM=$(HELM) KUBECTL=$(K8S_BIN)/kubectl ACTIONLINT=$(ACTIONLINT) \
		go test $(GO_TEST_FLAGS) -timeout 30m ./test/install/...

.PHONY: helm
helm: $(HELM) ## Build the pinned helm into bin/.

.PHONY: cross-build
cross-build: ## Build bin/corral-linux-{amd64,arm64} the way the Dockerfile does.
	for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
			-o $(LOCALBIN)/corral-linux-$$arch ./cmd/corral; \
	done

$(HELM):
	hack/go-install.sh $@ helm.sh/helm/v3/cmd/helm $(HELM_VERSION)
