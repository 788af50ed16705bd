package autoscale

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

var _ = Describe("job attribution in the demand store", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	started := func(id int64, runner string, at time.Time) Event {
		e := ev(id, "in_progress", runner, at)
		e.Identity = JobIdentity{Workflow: "CI", RunID: 77, RunAttempt: 1, Job: "build", Sender: "octocat"}
		return e
	}

	It("records the job's identity with its in_progress and drops it when the job completes", func() {
		key := createPool(ns, "attr")
		pool := getPool(key)
		runner := github.RunnerNamePrefix(pool.Name, pool.UID) + "abcde"
		st := newStore()
		now := time.Now()
		Expect(applyEvents(st, key, ev(5, "queued", "", now), started(5, runner, now))).To(Equal(resultApplied))
		jobs := corralv1.DecodeAttributions(getPool(key).Status.Demand.Attributions)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].Runner).To(Equal("abcde"))
		Expect(jobs[0].Job).To(Equal("build"))
		Expect(jobs[0].Repository).To(Equal("acme/app"))
		Expect(applyEvents(st, key, ev(5, "completed", runner, now))).To(Equal(resultApplied))
		Expect(getPool(key).Status.Demand.Attributions).To(BeEmpty())
	})

	It("never loses a job's demand to an attribution the API server refuses", func() {
		key := createPool(ns, "refused")
		pool := getPool(key)
		runner := github.RunnerNamePrefix(pool.Name, pool.UID) + "abcde"
		st := newStore()
		wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())
		refusals := 0
		// Whatever slipped through the encoder: the real API server refuses it (past the
		// schema's MaxLength).
		st.writer = interceptor.NewClient(wc, interceptor.Funcs{
			SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
				u := obj.(interface{ UnstructuredContent() map[string]any }).UnstructuredContent()
				if a, ok, _ := unstructured.NestedString(u, "status", "demand", "attributions"); ok && a != "" {
					a += strings.Repeat("\n"+a, corralv1.MaxAttributionBytes/len(a))
					Expect(unstructured.SetNestedField(u, a, "status", "demand", "attributions")).To(Succeed())
					refusals++
				}
				return c.SubResource(sub).Apply(ctx, obj, opts...)
			},
		})
		Expect(applyEvents(st, key, started(6, runner, time.Now()))).To(Equal(resultApplied))
		Expect(refusals).To(Equal(1), "the write with the attribution was tried first")
		Expect(jobsOf(key)).To(Equal(map[int64]string{6: "InProgress/abcde"}), "the runner is recorded busy all the same")
		Expect(getPool(key).Status.Demand.Attributions).To(BeEmpty())
	})
})
