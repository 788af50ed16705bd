//go:build e2e

package e2e

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

var _ = Describe("A burst of workflow_job webhooks", func() {
	BeforeEach(func() {
		if !env.corral.Webhooks() {
			Skip("this corral binary has no webhook receiver (no --webhook-secret flag): cmd/corral does not wire internal/autoscale yet")
		}
	})

	It("grows the pool to maxRunners, then jobs finishing shrink it back without deleting a busy runner", func(ctx SpecContext) {
		const (
			jobs    = 50
			maxRuns = 10
			label   = "e2e-burst"
		)
		ns := newNamespace(ctx, "burst")
		rec := recordNamespace(ctx, ns)
		pool := createPool(ctx, ns, "burst", gen.WithMinIdle(1), gen.WithMaxRunners(maxRuns), gen.WithLabels(label))
		Eventually(func(g Gomega) { g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(1)) }).WithContext(ctx).Should(Succeed())

		By("50 signed queued deliveries, each job held once a runner takes it")
		resp, err := env.gh.Queue(ctx, app.QueueRequest{Count: jobs, Labels: []string{"self-hosted", "linux", label}, Hold: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Delivered).To(Equal(jobs), "Corral acknowledged every delivery")

		By("growing to maxRunners, every runner busy, and no further")
		Eventually(func(g Gomega) {
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(maxRuns))
			busy := 0
			for _, r := range registrations(ctx, g, pool) {
				if r.Busy {
					busy++
				}
			}
			g.Expect(busy).To(Equal(maxRuns))
			st := poolStatus(ctx, g, pool)
			g.Expect(st.Busy).To(BeEquivalentTo(maxRuns))
			g.Expect(st.Queued).To(BeEquivalentTo(jobs - maxRuns))
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(len(runnerPods(ctx, g, pool))).To(BeNumerically("<=", maxRuns))
		}).WithContext(ctx).Should(Succeed())

		By("each busy runner's pod labelled with the job GitHub gave it")
		Eventually(func(g Gomega) {
			took := map[string]int64{}
			for _, j := range jobsWithLabel(ctx, g, label) {
				if j.State == app.JobInProgress {
					took[j.Runner] = j.ID
				}
			}
			g.Expect(took).To(HaveLen(maxRuns))
			for _, p := range runnerPods(ctx, g, pool) {
				if id, ok := took[p.Name]; ok {
					g.Expect(p.Labels).To(HaveKeyWithValue(corralv1.LabelJobID, strconv.FormatInt(id, 10)), "pod %s", p.Name)
					g.Expect(p.Labels).To(HaveKeyWithValue(corralv1.LabelJobRepository, HaveSuffix(".app")), "pod %s", p.Name)
				}
			}
		}).WithContext(ctx).Should(Succeed())

		By("in_progress and completed deliveries and runners exiting working through all 50 jobs")
		_, err = env.gh.Release(ctx, 200*time.Millisecond)
		Expect(err).NotTo(HaveOccurred())
		// The release applies to every held job, also those still queued: each runs 200ms.
		Eventually(func(g Gomega) {
			all := jobsWithLabel(ctx, g, label)
			g.Expect(all).To(HaveLen(jobs))
			for _, j := range all {
				g.Expect(j.State).To(Equal(app.JobCompleted), "job %d", j.ID)
				g.Expect(j.Lost).To(BeFalse(), "job %d lost its runner %s", j.ID, j.Runner)
				g.Expect(j.Conclusion).To(Equal("success"))
			}
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())

		By("shrinking back to minIdle, with GitHub holding no registration beyond the live pods")
		Eventually(func(g Gomega) {
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(1))
			g.Expect(runnerPods(ctx, g, pool)).To(HaveLen(1))
			st := poolStatus(ctx, g, pool)
			g.Expect(st.Queued).To(BeZero())
			g.Expect(st.Busy).To(BeZero())
			expectRegistrationsMatchPods(ctx, g, pool)
		}).WithContext(ctx).Should(Succeed())
		Expect(rec.maxLivePods()).To(BeNumerically("<=", maxRuns), "never above maxRunners")
		deliveries, err := env.gh.Deliveries(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, d := range deliveries {
			Expect(d.StatusCode).To(BeNumerically("<", 300), "delivery %s (%s) answered %d", d.GUID, d.Action, d.StatusCode)
		}
		rec.expectNoWatchErrors()
	})
})
