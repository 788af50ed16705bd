package controller_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/autoscale"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("Demand arriving while a creation batch is in flight", func() {
	It("gets its runners from that same reconcile, never beyond maxRunners", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("topup", ns, "acme", gen.WithMinIdle(0), gen.WithMaxRunners(5), withStandalone)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		pool = getPool(pool)
		queue(pool, 2)
		// The first two registrations take a second; while they are in flight five more jobs
		// are queued (one more than maxRunners leaves room for).
		remove := fake.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgJIT, Credential: app.Credential, Latency: time.Second, Times: 2})
		defer remove()
		queued := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(queued)
			Eventually(func() int { return fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT) }).Should(Equal(2))
			queue(pool, 7)
		}()
		r := standalone(k8s, time.Now)
		r.DemandOf = suiteDemand
		start := time.Now()
		reconcileBy(r, pool)
		<-queued
		Expect(podNames(runnerPods(pool))).To(HaveLen(5), "the jobs queued during the batch got runners in the same reconcile, up to maxRunners")
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(5), "one registration per runner, none beyond maxRunners")
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))

		reconcileBy(r, pool)
		Expect(podNames(runnerPods(pool))).To(HaveLen(5), "the next reconcile creates nothing twice")
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(5))
	})

	It("counts the jobs its new runners already took: in progress is still demand", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("topup-taken", ns, "acme", gen.WithMinIdle(0), gen.WithMaxRunners(10), withStandalone)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		pool = getPool(pool)
		queue(pool, 2)
		// While the first two registrations are in flight the first two jobs are taken (as a
		// burst's first runners take theirs) and four more are queued: six jobs need runners.
		remove := fake.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgJIT, Credential: app.Credential, Latency: time.Second, Times: 2})
		defer remove()
		changed := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(changed)
			Eventually(func() int { return fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT) }).Should(Equal(2))
			setDemand(pool, jobs(corralv1.JobInProgress, 1, 2), jobs(corralv1.JobQueued, 3, 6))
		}()
		r := standalone(k8s, time.Now)
		r.DemandOf = suiteDemand
		reconcileBy(r, pool)
		<-changed
		Expect(podNames(runnerPods(pool))).To(HaveLen(6), "two runners for the jobs taken, four for the jobs queued since")
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(6))
	})

	It("adds nothing when the pool's spec changed meanwhile", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("topup-spec", ns, "acme", gen.WithMinIdle(0), gen.WithMaxRunners(5), withStandalone)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		pool = getPool(pool)
		queue(pool, 1)
		remove := fake.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgJIT, Credential: app.Credential, Latency: time.Second, Times: 1})
		defer remove()
		changed := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(changed)
			Eventually(func() int { return fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT) }).Should(Equal(1))
			updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MaxRunners = 1 })
			queue(pool, 4)
		}()
		r := standalone(k8s, time.Now)
		r.DemandOf = suiteDemand
		reconcileBy(r, pool)
		<-changed
		Expect(podNames(runnerPods(pool))).To(HaveLen(1), "a changed spec is left to the next reconcile's plan")
	})
})

// queue writes n queued jobs (IDs 1..n) as the pool's webhook demand.
func queue(pool *corralv1.RunnerPool, n int) {
	GinkgoHelper()
	setDemand(pool, jobs(corralv1.JobQueued, 1, n))
}

// jobs are the entries of jobs first..last in one state; an in-progress job runs on a
// runner whose suffix is made of its ID.
func jobs(state corralv1.JobState, first, last int) []corralv1.DemandEntry {
	var out []corralv1.DemandEntry
	for id := first; id <= last; id++ {
		e := corralv1.DemandEntry{ID: int64(id), State: state, At: time.Now()}
		if state == corralv1.JobInProgress {
			e.Runner = fmt.Sprintf("%0*d", corralv1.DemandRunnerSuffixLength, id)
		}
		out = append(out, e)
	}
	return out
}

// setDemand writes the entries as the pool's whole webhook demand.
func setDemand(pool *corralv1.RunnerPool, groups ...[]corralv1.DemandEntry) {
	GinkgoHelper()
	var entries []corralv1.DemandEntry
	for _, g := range groups {
		entries = append(entries, g...)
	}
	Eventually(func() error {
		p := &corralv1.RunnerPool{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pool), p); err != nil {
			return err
		}
		p.Status.Demand = corralv1.EncodeDemand(entries)
		return k8s.Status().Update(ctx, p)
	}).Should(Succeed())
}

// suiteDemand reads a pool's webhook demand as the operator does.
func suiteDemand(pool *corralv1.RunnerPool, now time.Time) controller.Demand {
	d := autoscale.DemandOf(pool, now, time.Hour)
	return controller.Demand{Queued: d.Queued, BusyRunners: d.BusyRunners, QueuedSince: d.QueuedSince, Jobs: d.Jobs}
}
