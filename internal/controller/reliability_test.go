package controller_test

import (
	"sort"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

// These specs each try to break one promise the way review found it broken: a busy runner
// killed by a sweep, a hot loop while GitHub fails, duplicates from a lagging cache, one
// runner's trouble stopping a pool, decisions forgotten on restart.
var _ = Describe("RunnerPool reliability", func() {
	It("never deletes a busy runner that a listing shifting under it missed", func() {
		ns, _ := newNamespace(nil)
		const org = "pages"
		// Two runners of someone else, registered first, so they lead the listing.
		fillers := []githubtest.Runner{
			fake.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org(org), Name: "other-000000-fill1", Ephemeral: true}),
			fake.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org(org), Name: "other-000000-fill2", Ephemeral: true}),
		}
		pool := fakePool("paged", ns, org, gen.WithMinIdle(4))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(4))
		runAll(pool)
		pool = getPool(pool)
		regs := registrations(pool)
		sort.Slice(regs, func(i, j int) bool { return regs[i].ID < regs[j].ID })
		busy := regs[0].Name // first of the pool's runners in the listing
		// It took a job; no webhook told Corral (deliveries are late or lost).
		Expect(fake.StartJob(busy)).To(Succeed())
		time.Sleep(1100 * time.Millisecond) // every pod is now older than the orphan grace

		// The next sweep reads 2 runners a page; while it does, the two leading runners finish
		// their jobs and leave, so the pool's first two runners shift onto the page already
		// read: the listing never shows them.
		var shifted atomic.Bool
		fake.SetRunnersPerPage(2)
		fake.OnRunnersPage(func(sc githubtest.Scope, page int) {
			if sc == githubtest.Org(org) && page == 2 && shifted.CompareAndSwap(false, true) {
				for _, f := range fillers {
					_ = fake.RemoveRunner(f.Name)
				}
			}
		})
		DeferCleanup(func() { fake.OnRunnersPage(nil); fake.SetRunnersPerPage(0) })
		Eventually(shifted.Load).WithTimeout(10 * time.Second).Should(BeTrue())

		alive := func() bool {
			p := &corev1.Pod{}
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: busy}, p)
			return err == nil && p.DeletionTimestamp == nil
		}
		Consistently(alive, "5s", "100ms").Should(BeTrue(), "the busy runner %s must not be killed: absence from a listing is no proof", busy)
		Eventually(func() string {
			p := &corev1.Pod{}
			_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: busy}, p)
			return p.Annotations[controller.AnnotationBusy]
		}).Should(Equal("true"), "a lookup of the missing runner finds it busy")
		Expect(runnerPods(pool)).To(HaveLen(5), "4 idle wanted (minIdle) plus the busy one; nothing else removed")
	})

	It("backs off while GitHub fails: few calls, one stable message, no reconcile of its own status write", func() {
		ns, app := newNamespace(nil)
		remove := fake.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgJIT, Credential: app.Credential, Status: 503})
		DeferCleanup(remove)
		pool := fakePool("outage", ns, "acme", gen.WithMinIdle(3))
		Expect(k8s.Create(ctx, pool)).To(Succeed())

		messages := map[string]bool{}
		versions := map[string]bool{}
		start := time.Now()
		for time.Since(start) < 8*time.Second {
			p := getPool(pool)
			versions[p.ResourceVersion] = true
			for _, c := range p.Status.Conditions {
				if c.Type == corralv1.ConditionScalingBlocked && c.Status == "True" {
					messages[c.Message] = true
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		jit := fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)
		// 3 in flight at first, then one probe after 1, 2 and 4 s of backoff.
		Expect(jit).To(BeNumerically("<=", 8), "JIT calls during an 8 s outage: exponential backoff, not a loop")
		Expect(jit).To(BeNumerically(">=", 3), "it kept trying")
		Expect(messages).To(HaveLen(1), "one ScalingBlocked message for one cause, whatever runner failed")
		Expect(len(versions)).To(BeNumerically("<=", 10), "status writes bounded by the attempts")

		remove()
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(3), "recovers once GitHub answers")
	})

	It("never overshoots maxRunners, nor registers twice, while its cache lags behind its creations", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("lagging", ns, "acme", gen.WithMinIdle(3), gen.WithMaxRunners(3), withStandalone)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		r := standalone(laggingClient{Client: k8s, lag: 5 * time.Second}, time.Now)
		for range 3 {
			reconcileBy(r, pool)
		}
		all := &corev1.PodList{}
		Expect(k8s.List(ctx, all, client.InNamespace(ns))).To(Succeed())
		Expect(all.Items).To(HaveLen(3), "never more runner pods than maxRunners")
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(3), "one registration per runner")
	})

	It("keeps the rest of the pool going while a crashed runner's deregistration answers busy", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("crashed", ns, "acme", gen.WithMinIdle(2))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(2))
		runAll(pool)
		crashed := runnerPods(pool)[0]
		// It crashed mid-job: GitHub still calls it busy (DELETE answers 422) for a while.
		Expect(fake.StartJob(crashed.Name)).To(Succeed())
		setPhase(&crashed, corev1.PodFailed, 1)
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MinIdle = 4 })

		eventually(func() int { return len(livePods(pool)) }).Should(Equal(4), "scale-up goes on")
		Expect(podNames(runnerPods(pool))).To(ContainElement(crashed.Name), "the crashed runner waits until GitHub lets go")
		Expect(fake.FinishJob(crashed.Name)).To(Succeed())
		eventually(func() []string { return podNames(runnerPods(pool)) }).ShouldNot(ContainElement(crashed.Name))
	})

	It("keeps backing off failing runners across restarts", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("restarts", ns, "acme", gen.WithMinIdle(1), withStandalone)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		clock := time.Now()
		now := func() time.Time { return clock }
		// Every reconcile is a freshly started operator: nothing survives but the cluster.
		reconcileBy(standalone(k8s, now), pool)
		Expect(runnerPods(pool)).To(HaveLen(1))
		failed := runnerPods(pool)[0]
		setPhase(&failed, corev1.PodFailed, 1)
		reconcileBy(standalone(k8s, now), pool)
		Expect(runnerPods(pool)).To(BeEmpty(), "the failed runner is removed")
		jit := fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)
		for range 5 {
			clock = clock.Add(time.Second)
			reconcileBy(standalone(k8s, now), pool)
		}
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(jit), "restarts do not skip the 10 s backoff")
		clock = clock.Add(6 * time.Second)
		reconcileBy(standalone(k8s, now), pool)
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(jit+1), "after the backoff a runner is created")
	})

	It("removes an orphaned registration although the operator restarts between sweeps", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("orphans", ns, "acme", gen.WithMinIdle(0), withStandalone)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		pool = getPool(pool)
		orphan := fake.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"),
			Name: github.RunnerNamePrefix(pool.Name, pool.UID) + "orph1", Ephemeral: true})
		clock := time.Now()
		now := func() time.Time { return clock }
		for range 4 {
			reconcileBy(standalone(k8s, now), pool) // a fresh operator each time
			clock = clock.Add(2500 * time.Millisecond)
		}
		_, ok := fake.Runner(orphan.Name)
		Expect(ok).To(BeFalse(), "the orphan's grace is counted from its first sighting, which a restart keeps")
	})
})

// withStandalone keeps a pool away from the suite's manager (see standalone).
func withStandalone(p *corralv1.RunnerPool) {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[labelStandalone] = "true"
}

// livePods are the pool's runner pods that neither terminated nor are being deleted.
func livePods(pool *corralv1.RunnerPool) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range runnerPods(pool) {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}
