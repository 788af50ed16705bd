package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// K8sVersion is the Kubernetes version of the binaries hack/build-k8s-binaries.sh builds.
const K8sVersion = "1.36.3"

// RepoRoot is the root of this checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// K8sBin is dir, or when empty the checkout's bin/k8s/<version>-<os>-<arch>: where etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok are.
func K8sBin(dir string) string {
	if dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
}

// Run runs a command in dir and returns its standard output; the error carries its
// standard error.
func Run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Build compiles the package pkg of this checkout (e.g. "./cmd/corral") into out, with the
// build tags given (e.g. "failpoints").
func Build(ctx context.Context, out, pkg string, tags ...string) error {
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	_, err := Run(ctx, RepoRoot(), "go", append(args, pkg)...)
	return err
}

// Step is one stage of a suite's set-up.
type Step struct {
	Name string
	Run  func(context.Context) error
}

// RunSteps runs steps in order, reporting each one's duration through logf; the first error
// stops them and names its step.
func RunSteps(ctx context.Context, logf func(format string, args ...any), steps ...Step) error {
	for _, s := range steps {
		start := time.Now()
		if err := s.Run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		logf("%s took %s", s.Name, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}
