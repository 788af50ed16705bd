# Container images: the controller (Dockerfile) and the reference runner image
# (hack/runner-image/Containerfile), built by hack/images.sh with podman or buildah. The
# release workflow (.github/workflows/release.yml) runs `make images-push` on a tag.
# Included by the top-level Makefile; `make test` does not build images (they pull their base
# images from docker.io and gcr.io).

# IMAGE_REGISTRY is where the images go; the release workflow sets the full names.
IMAGE_REGISTRY ?= ghcr.io/corral-run
# IMAGE_TAG tags the controller image; the runner image is tagged with its runner version,
# as the CRD's default image (spec.template.image) is.
IMAGE_TAG ?= $(VERSION)
RUNNER_VERSION ?= $(shell sed -n 's/^ARG RUNNER_VERSION=//p' hack/runner-image/Containerfile)
CONTROLLER_IMAGE ?= $(IMAGE_REGISTRY)/corral
RUNNER_IMAGE ?= $(IMAGE_REGISTRY)/runner
# PLATFORMS: this machine's own by default; several (comma-separated) make manifest lists.
PLATFORMS ?= linux/$(GOARCH)
# IMAGES: which of controller and runner to build or push.
IMAGES ?= controller runner

IMAGES_ENV = CONTROLLER_IMAGE=$(CONTROLLER_IMAGE):$(IMAGE_TAG) RUNNER_IMAGE=$(RUNNER_IMAGE):$(RUNNER_VERSION) \
	RUNNER_VERSION=$(RUNNER_VERSION) PLATFORMS=$(PLATFORMS) VERSION=$(VERSION)

##@ Images

.PHONY: images
images: ## Build the controller and runner images with podman or buildah (IMAGE_REGISTRY, IMAGE_TAG, PLATFORMS, IMAGES).
	$(IMAGES_ENV) hack/images.sh build $(IMAGES)

.PHONY: images-push
images-push: images ## Build, then push the images (log in to IMAGE_REGISTRY first).
	$(IMAGES_ENV) hack/images.sh push $(IMAGES)
