# Release: the chart as an OCI artifact, and actionlint for the GitHub Actions workflows
# (.github/workflows/release.yml runs `make images-push chart-push` on a tag). Included by the
# top-level Makefile.

ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := $(LOCALBIN)/actionlint-$(ACTIONLINT_VERSION)

# CHART_VERSION is the chart's version (SemVer, no v); the release workflow passes the tag's.
CHART_VERSION ?= $(shell sed -n 's/^version: //p' $(CHART_DIR)/Chart.yaml)
# CHART_APP_VERSION is the controller image tag the packaged chart defaults to.
CHART_APP_VERSION ?= $(IMAGE_TAG)
CHART_REGISTRY ?= oci://$(IMAGE_REGISTRY)/charts
CHART_PACKAGE = $(LOCALBIN)/charts/corral-$(CHART_VERSION).tgz

##@ Release

.PHONY: chart-package
chart-package: helm ## Package the chart as bin/charts/corral-CHART_VERSION.tgz (app version CHART_APP_VERSION).
	$(HELM) package $(CHART_DIR) --version $(CHART_VERSION) --app-version $(CHART_APP_VERSION) -d $(LOCALBIN)/charts

.PHONY: chart-push
chart-push: chart-package ## Push the packaged chart to CHART_REGISTRY (log in with `helm registry login` first).
	$(HELM) push $(CHART_PACKAGE) $(CHART_REGISTRY)

.PHONY: lint-workflows
lint-workflows: $(ACTIONLINT) ## Check .github/workflows with actionlint (and shellcheck, if on PATH).
	$(ACTIONLINT)

.PHONY: actionlint
actionlint: $(ACTIONLINT) ## Build the pinned actionlint into bin/.

$(ACTIONLINT):
	hack/go-install.sh $@ github.com/rhysd/actionlint/cmd/actionlint $(ACTIONLINT_VERSION)

# REGISTRY_HOST is the registry both logins go to: IMAGE_REGISTRY's host.
REGISTRY_HOST = $(firstword $(subst /, ,$(IMAGE_REGISTRY)))

.PHONY: registry-login
registry-login: helm ## Log podman (or buildah) and helm in to IMAGE_REGISTRY's host as REGISTRY_USER, password read from REGISTRY_TOKEN.
	@: "$${REGISTRY_USER:?REGISTRY_USER is not set}" "$${REGISTRY_TOKEN:?REGISTRY_TOKEN is not set}"
	@printf '%s' "$$REGISTRY_TOKEN" | hack/images.sh login $(REGISTRY_HOST)
	@printf '%s' "$$REGISTRY_TOKEN" | $(HELM) registry login $(REGISTRY_HOST) -u "$$REGISTRY_USER" --password-stdin
