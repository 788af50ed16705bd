//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/internal/netpol"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

var _ = Describe("Killing corral mid-scale-up", func() {
	It("ends, after a restart, with exactly the desired runners and no orphaned registration", func(ctx SpecContext) {
		const want = 24
		ns := newNamespace(ctx, "restart")
		rec := recordNamespace(ctx, ns)
		pool := createPool(ctx, ns, "restart", gen.WithMinIdle(0), gen.WithMaxRunners(want))
		Eventually(func() []observation { return rec.added(kindNetworkPolicy) }).WithContext(ctx).
			Should(HaveLen(len(netpol.Build(pool))), "the pool is reconciled")

		By("seeding what a crash between registration and pod creation leaves: a podless registration")
		orphan, err := env.gh.Register(ctx, githubtest.RunnerSpec{Name: github.NewRunnerName(prefix(pool)), Labels: []string{"e2e"}, Ephemeral: true})
		Expect(err).NotTo(HaveOccurred())
		// A runner of another pool whose name merely starts with this pool's prefix.
		foreign, err := env.gh.Register(ctx, githubtest.RunnerSpec{Name: prefix(pool) + "xy-abcde", Labels: []string{"e2e"}, Ephemeral: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { _ = env.gh.RunnerAction(ctx, foreign.Name, app.ActionRemove) })

		By("scaling up with a slow GitHub, and killing corral as soon as the first runner pod appears")
		Expect(env.gh.InjectFault(ctx, app.FaultRequest{Endpoint: githubtest.EndpointOrgJIT, Latency: "150ms"})).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.gh.ClearFaults(ctx)).To(Succeed()) })
		DeferCleanup(func() {
			if !env.corral.Running() {
				Expect(env.corral.Start()).To(Succeed())
			}
		})
		patchPool(ctx, pool, func(p *corralv1.RunnerPool) { p.Spec.MinIdle = want })
		Eventually(func() []observation { return rec.added(kindPod) }).WithContext(ctx).
			WithPolling(10 * time.Millisecond).ShouldNot(BeEmpty())
		env.corral.Proc.Kill()
		atCrash := len(rec.added(kindPod))
		GinkgoWriter.Printf("corral killed after %d of %d runner pods\n", atCrash, want)
		Expect(atCrash).To(BeNumerically("<", want), "the crash must happen mid-scale-up")

		By("restarting corral")
		Expect(env.gh.ClearFaults(ctx)).To(Succeed())
		Expect(env.corral.Start()).To(Succeed())
		Eventually(func(g Gomega) {
			pods := harness.Running(runnerPods(ctx, g, pool))
			g.Expect(pods).To(HaveLen(want))
			for _, p := range pods {
				g.Expect(env.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(p.Name)}, &corev1.Secret{})).
					To(Succeed(), "every runner has its JIT Secret")
			}
			expectRegistrationsMatchPods(ctx, g, pool)
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(want))
			expectRegistrationsMatchPods(ctx, g, pool)
		}).WithContext(ctx).WithTimeout(orphanGrace + 2*sweepInterval).Should(Succeed())

		regs, err := env.gh.Runners(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(runnerNames(regs)).NotTo(ContainElement(orphan.Name), "the orphan was removed by the sweep")
		Expect(runnerNames(regs)).To(ContainElement(foreign.Name), "another pool's runner is never touched")
		Expect(rec.maxLivePods()).To(BeNumerically("<=", want), "never more runners than desired")
		rec.expectNoWatchErrors()
	})
})

var _ = Describe("Killing corral mid-burst", func() {
	It("ends, after a restart, with the runners the queued jobs need and no orphaned registration", func(ctx SpecContext) {
		if !env.corral.Webhooks() {
			Skip("this corral binary has no webhook receiver (no --webhook-secret flag): cmd/corral does not wire internal/autoscale yet")
		}
		const (
			jobs    = 20
			maxRuns = 10
			label   = "e2e-restart-burst"
		)
		ns := newNamespace(ctx, "restart-burst")
		rec := recordNamespace(ctx, ns)
		pool := createPool(ctx, ns, "burst", gen.WithMinIdle(0), gen.WithMaxRunners(maxRuns), gen.WithLabels(label))
		Eventually(func() []observation { return rec.added(kindNetworkPolicy) }).WithContext(ctx).
			Should(HaveLen(len(netpol.Build(pool))), "the pool is reconciled")
		DeferCleanup(func() {
			if !env.corral.Running() {
				Expect(env.corral.Start()).To(Succeed())
			}
		})

		By("queueing held jobs and killing corral as soon as the first runner pod appears")
		// Slow registrations: the 10 runners take two batches of at least 600 ms, and the
		// deliveries are acknowledged only once their demand is recorded.
		Expect(env.gh.InjectFault(ctx, app.FaultRequest{Endpoint: githubtest.EndpointOrgJIT, Latency: "600ms"})).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(env.gh.ClearFaults(ctx)).To(Succeed()) })
		resp, err := env.gh.Queue(ctx, app.QueueRequest{Count: jobs, Labels: []string{"self-hosted", "linux", label}, Hold: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Delivered).To(Equal(jobs))
		Eventually(func() []observation { return rec.added(kindPod) }).WithContext(ctx).
			WithPolling(10 * time.Millisecond).ShouldNot(BeEmpty())
		env.corral.Proc.Kill()
		Expect(len(rec.added(kindPod))).To(BeNumerically("<", maxRuns), "the crash must happen mid-burst")

		By("restarting corral: the demand recorded in the pool's status brings it to maxRunners")
		Expect(env.gh.ClearFaults(ctx)).To(Succeed())
		Expect(env.corral.Start()).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(maxRuns))
			expectRegistrationsMatchPods(ctx, g, pool)
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(maxRuns))
			expectRegistrationsMatchPods(ctx, g, pool)
		}).WithContext(ctx).WithTimeout(orphanGrace + 2*sweepInterval).Should(Succeed())

		By("the jobs finishing: every one completes and the pool goes back to zero")
		_, err = env.gh.Release(ctx, 100*time.Millisecond)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			for _, j := range jobsWithLabel(ctx, g, label) {
				g.Expect(j).To(And(HaveField("State", app.JobCompleted), HaveField("Lost", false)), "job %d", j.ID)
			}
			g.Expect(runnerPods(ctx, g, pool)).To(BeEmpty())
			g.Expect(registrations(ctx, g, pool)).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		Expect(rec.maxLivePods()).To(BeNumerically("<=", maxRuns))
		rec.expectNoWatchErrors()
	})
})
