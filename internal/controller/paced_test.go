package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("A pool larger than one reconcile's batch, held by the pacer", func() {
	It("comes back when the pacer's next slot frees, not at once", func() {
		ns, app := newNamespace(nil)
		// 200 runners: 50 in the first reconcile, 30 in the second until the credential's 80
		// registrations of the minute are spent; the others wait for the window to move, more
		// than one reconcile's batch.
		pool := fakePool("paced", ns, "acme", gen.WithMinIdle(200), gen.WithMaxRunners(200), withStandalone)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		pool = getPool(pool)
		r := standalone(k8s, time.Now)
		// Nothing else asks for an early look (status deferral, sweeps, orphan grace, pending
		// pods): what is left is the pacer's wait.
		r.Options.StatusInterval, r.Options.SweepInterval, r.Options.OrphanGrace = time.Hour, time.Hour, time.Hour

		first := reconcileBy(r, pool)
		Expect(runnerPods(pool)).To(HaveLen(50), "one reconcile creates at most MaxCreatesPerReconcile")
		Expect(first.RequeueAfter).To(BeNumerically("<=", time.Millisecond), "more to create and nothing holds them: at once")

		second := reconcileBy(r, getPool(pool))
		Expect(runnerPods(pool)).To(HaveLen(github.DefaultContentCreatingPerMinute))
		calls := fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)
		Expect(calls).To(Equal(github.DefaultContentCreatingPerMinute), "the pacer spent no call on GitHub's secondary limit")
		// The slot frees a minute after the first registration; coming back before it would
		// list every pod again only to be paced again (a reconcile loop of thousands a minute).
		Expect(second.RequeueAfter).To(BeNumerically(">", 30*time.Second), "the pacer's next slot, not at once")

		third := reconcileBy(r, getPool(pool))
		Expect(runnerPods(pool)).To(HaveLen(github.DefaultContentCreatingPerMinute))
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(calls), "a reconcile while paced calls no one")
		Expect(third.RequeueAfter).To(BeNumerically(">", 30*time.Second))
	})
})
