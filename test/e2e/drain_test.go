//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

var _ = Describe("Deleting a RunnerPool", func() {
	It("drains it: idle runners go at once, a busy one finishes its job, and nothing is left behind", func(ctx SpecContext) {
		ns := newNamespace(ctx, "drain")
		rec := recordNamespace(ctx, ns)
		pool := createPool(ctx, ns, "drain", gen.WithMinIdle(3), gen.WithMaxRunners(3), gen.WithLabels("e2e-drain"))
		Eventually(func(g Gomega) {
			regs := registrations(ctx, g, pool)
			g.Expect(regs).To(HaveLen(3))
			for _, r := range regs {
				g.Expect(r.Online).To(BeTrue())
			}
		}).WithContext(ctx).Should(Succeed())

		By("one runner taking a job that runs until released")
		_, err := env.gh.Queue(ctx, app.QueueRequest{Labels: []string{"self-hosted", "linux", "e2e-drain"}, Hold: true})
		Expect(err).NotTo(HaveOccurred())
		var busy string
		Eventually(func(g Gomega) {
			jobs := jobsWithLabel(ctx, g, "e2e-drain")
			g.Expect(jobs).To(HaveLen(1))
			g.Expect(jobs[0].State).To(Equal(app.JobInProgress))
			busy = jobs[0].Runner
		}).WithContext(ctx).Should(Succeed())

		By("deleting the pool: the idle runners are deregistered and removed, the busy one stays")
		Expect(env.k8s.Delete(ctx, pool)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(harness.PodNames(runnerPods(ctx, g, pool))).To(Equal([]string{busy}))
			g.Expect(runnerNames(registrations(ctx, g, pool))).To(Equal([]string{busy}))
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			pods := harness.Running(runnerPods(ctx, g, pool))
			g.Expect(harness.PodNames(pods)).To(Equal([]string{busy}), "the busy runner keeps running")
			got := &corralv1.RunnerPool{}
			g.Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed(), "the pool waits for its busy runner")
			g.Expect(got.DeletionTimestamp).NotTo(BeNil())
		}).WithContext(ctx).Should(Succeed())

		By("the job finishing: the runner exits 0, its pod goes and the pool is released")
		_, err = env.gh.Release(ctx, 0)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(BeTrue())
		Eventually(func(g Gomega) { expectNothingLeft(ctx, g, pool) }).WithContext(ctx).Should(Succeed())

		jobs := jobsWithLabel(ctx, Default, "e2e-drain")
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0]).To(And(HaveField("State", app.JobCompleted), HaveField("Conclusion", "success"), HaveField("Lost", false)))
		Expect(rec.deletedBeforeFinishing(busy)).To(BeFalse(), "the busy runner's pod is deleted only after it exited")
		rec.expectNoWatchErrors()
	})
})
