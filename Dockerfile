# syntax=docker/dockerfile:1
# The Corral controller image: a static binary on distroless, running as 65532:65532.
# Multi-arch build and push (docs/install.md#building-the-images):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     -t ghcr.io/corral-run/corral:TAG --push .
# The build stage runs on the builder's own platform and cross-compiles (no emulation).
# test/install builds the binary with exactly this `go build` line for both architectures.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM docker.io/library/golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
ENV GOTOOLCHAIN=local GOFLAGS=-mod=readonly
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/corral ./cmd/corral

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/corral-run/corral" \
      org.opencontainers.image.description="Corral: hardened, ephemeral GitHub Actions runners on Kubernetes"
COPY --from=build /out/corral /corral
USER 65532:65532
ENTRYPOINT ["/corral"]
