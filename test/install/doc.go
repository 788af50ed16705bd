// Package install tests the ways users install Corral: the Helm chart (lint, renderings with
// several value sets, schema rejections, RBAC rules equal to the generated ones, flags the
// binary knows), the kustomize overlay (the same controller as the chart), the samples
// (accepted by a real API server), the Argo CD health check (run by gopher-lua, as Argo CD
// does), the controller image (cross-built exactly as the Dockerfile builds it), the reference
// runner image (consistent with the sandbox test and the runner pod) and the docs that
// describe them.
//
// Tests that need helm, kubectl, an API server or a cross-build run when CORRAL_INSTALL_TESTS
// is set, as `make test-install` does; plain `go test` runs the rest.
package install
