//go:build node

// Package node is Corral's real-node tier (issue 15): the real corral binary creates runner
// pods from RunnerPools on one real node — a kubelet, containerd and runc built from the Go
// module proxy by hack/node/build.sh, joined to the local control plane of
// hack/cluster/up.sh — running a locally built runner image whose stand-in runner
// (test/node/standin) checks its JIT config and runs the job script the spec gives it.
//
//	make test-node                     # builds what is missing, needs root; then
//	go test -tags node -count=1 ./test/node/
//
// The suite starts and stops everything itself and fails when the node leaves anything
// behind on the host (processes, mounts, network namespaces, the bridge, cgroups). Logs are
// kept under .cache/node-test/<run>/ when a spec fails (or NODE_KEEP=1).
package node

import (
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestNode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Corral on a real node")
}

var (
	env    *environment
	failed bool
)

var _ = BeforeSuite(func(ctx SpecContext) {
	if os.Geteuid() != 0 {
		Skip("a real node needs root (kubelet, containerd, runc, a bridge and cgroups)")
	}
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	EnforceDefaultTimeoutsWhenUsingContexts() // a SpecContext has no deadline of its own
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

var _ = AfterSuite(func() {
	if env == nil {
		return
	}
	left := env.tearDown(failed)
	Expect(left).To(BeEmpty(), "the node left this behind on the host")
})
