//go:build e2e

// Package e2e is Corral's end-to-end suite: the real corral binary, running out of cluster
// with its ServiceAccount's token, against a local control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) whose fake nodes are played by kwok, and the fake
// GitHub process (cmd/fake-github), which also plays each runner's process.
//
//	make test-e2e                                  # builds what is missing, then
//	go test -tags e2e -count=1 ./test/e2e/         # E2E_CLUSTER_DIR=... reuses a running cluster
//
// Logs of every process are kept under .cache/e2e/<run>/ when a spec fails (or E2E_KEEP=1).
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Corral end-to-end")
}

var (
	env    *environment
	failed bool
)

var _ = BeforeSuite(func(ctx SpecContext) {
	SetDefaultEventuallyTimeout(90 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	SetDefaultConsistentlyDuration(3 * time.Second)
	SetDefaultConsistentlyPollingInterval(200 * time.Millisecond)
	var err error
	env, err = setUp(ctx)
	if err != nil {
		failed = true
	}
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(15*time.Minute))

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		failed = true
	}
})

var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() && env != nil {
		dumpState()
	}
})

var _ = AfterSuite(func() {
	if env != nil {
		env.tearDown(failed)
	}
})

// dumpState prints what a failed spec leaves behind: pools, pods, the fake's runners and
// jobs, and the last lines of corral's and the fake's logs.
func dumpState() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := env.kubectlRun(ctx, "get", "runnerpools,pods,secrets,networkpolicies", "-A", "-o", "wide")
	GinkgoWriter.Printf("---- cluster\n%s%v\n", out, err)
	for _, list := range []string{"runners", "jobs"} {
		cmd := exec.CommandContext(ctx, filepath.Join(env.work, "bin", "fake-github"), "-control", env.fakeInfo.ControlURL, list)
		b, err := cmd.CombinedOutput()
		GinkgoWriter.Printf("---- fake GitHub %s\n%s%v\n", list, b, err)
	}
	for _, log := range []string{"corral.log", "fake-github.log"} {
		GinkgoWriter.Printf("---- tail of %s\n%s\n", log, tail(filepath.Join(env.work, "logs", log), 60))
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprint(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
