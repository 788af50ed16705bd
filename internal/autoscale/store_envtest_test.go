package autoscale

import (
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("the demand store", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("records jobs in status.jobs under its own field manager and leaves the reconciler's fields alone", func() {
		key := createPool(ns, "builders")
		// The reconciler writes its fields with a merge patch.
		pool := getPool(key)
		patch := client.MergeFrom(pool.DeepCopy())
		pool.Status.Idle, pool.Status.Runners = 3, 3
		Expect(k8s.Status().Patch(ctx, pool, patch, client.FieldOwner("corral"))).To(Succeed())

		st := newStore()
		now := time.Now()
		Expect(st.apply(ctx, key, []Event{ev(1, "queued", "", now), ev(2, "queued", "", now)})).To(Equal(resultApplied))
		pool = getPool(key)
		Expect(states(pool.Status.Jobs)).To(Equal(map[int64]string{1: "Queued/", 2: "Queued/"}))
		Expect(pool.Status.Idle).To(Equal(int32(3)), "the reconciler's field survived the store's write")
		owner := ""
		for _, mf := range pool.ManagedFields {
			if mf.Subresource == "status" && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:jobs"`) {
				owner = mf.Manager
			}
		}
		Expect(owner).To(Equal(FieldManager))

		// The reconciler's next merge patch leaves the jobs alone.
		patch = client.MergeFrom(pool.DeepCopy())
		pool.Status.Idle, pool.Status.Queued = 1, 2
		Expect(k8s.Status().Patch(ctx, pool, patch, client.FieldOwner("corral"))).To(Succeed())
		Expect(jobsOf(key)).To(HaveLen(2))

		// A delivery with no news writes nothing.
		rv := getPool(key).ResourceVersion
		Expect(st.apply(ctx, key, []Event{ev(1, "queued", "", now)})).To(Equal(resultUnchanged))
		Expect(getPool(key).ResourceVersion).To(Equal(rv))

		// A job moves forward; a deleted pool's events are dropped.
		Expect(st.apply(ctx, key, []Event{ev(1, "in_progress", "builders-abc-12345", now)})).To(Equal(resultApplied))
		Expect(jobsOf(key)[1]).To(Equal("InProgress/builders-abc-12345"))
		Expect(k8s.Delete(ctx, getPool(key))).To(Succeed())
		Expect(st.apply(ctx, key, []Event{ev(3, "queued", "", now)})).To(Equal(resultPoolGone))
	})

	It("refuses a write based on a stale read", func() {
		key := createPool(ns, "builders")
		stale := getPool(key)
		Expect(newStore().apply(ctx, key, []Event{ev(1, "queued", "", time.Now())})).To(Equal(resultApplied))
		err := newStore().write(ctx, stale, []corralv1.Job{gen.QueuedJob(2, time.Now())})
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "a write from a stale read must conflict, got %v", err)
		Expect(jobsOf(key)).To(Equal(map[int64]string{1: "Queued/"}))
	})

	It("loses no job when replicas and the reconciler write the same pool at once", func() {
		key := createPool(ns, "builders")
		const replicas, perReplica = 3, 20
		stores := make([]*store, replicas)
		for i := range stores {
			stores[i] = newStore()
		}
		var wg sync.WaitGroup
		errs := make(chan error, replicas*perReplica)
		for r, st := range stores {
			wg.Go(func() {
				// Each replica's worker writes one batch at a time, retrying failed ones as
				// the work queue does.
				for i := range perReplica {
					id := int64(r*1000 + i + 1)
					var err error
					for range 5 {
						if _, err = st.apply(ctx, key, []Event{ev(id, "queued", "", time.Now())}); err == nil {
							break
						}
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		// Meanwhile the reconciler keeps writing its own status fields.
		wg.Go(func() {
			for i := range 20 {
				var pool corralv1.RunnerPool
				if err := k8s.Get(ctx, key, &pool); err != nil {
					errs <- err
					return
				}
				patch := client.MergeFrom(pool.DeepCopy())
				pool.Status.Idle = int32(i)
				if err := k8s.Status().Patch(ctx, &pool, patch, client.FieldOwner("corral")); err != nil {
					errs <- err
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}
		pool := getPool(key)
		Expect(pool.Status.Jobs).To(HaveLen(replicas*perReplica), "every replica's jobs are there")
		Expect(pool.Status.Idle).To(Equal(int32(19)), "the reconciler's last write is there")
		conflicts := 0.0
		for _, st := range stores {
			conflicts += testutil.ToFloat64(st.metrics.conflicts)
		}
		AddReportEntry("store conflicts retried", conflicts)
		Expect(DemandOf(pool, time.Now(), time.Hour).Queued).To(Equal(int32(replicas * perReplica)))
	})

	It("expires stale jobs and keeps the list bounded", func() {
		key := createPool(ns, "builders")
		now := time.Now()
		st := newStore()
		var seed []corralv1.Job
		for i := range corralv1.MaxTrackedJobs - 10 {
			seed = append(seed, gen.CompletedJob(int64(10000+i), now.Add(-time.Duration(i)*time.Second)))
		}
		for i := range 5 {
			seed = append(seed, gen.QueuedJob(int64(100+i), now.Add(-st.policy.DemandTTL-time.Hour)))         // lost follow-up
			seed = append(seed, gen.CompletedJob(int64(200+i), now.Add(-st.policy.CompletedTTL-time.Minute))) // long done
		}
		Expect(st.write(ctx, getPool(key), seed)).To(Succeed())
		Expect(getPool(key).Status.Jobs).To(HaveLen(corralv1.MaxTrackedJobs))
		Expect(DemandOf(getPool(key), now, st.policy.DemandTTL).Queued).To(BeZero(), "expired jobs are no demand even before they are dropped")

		var events []Event
		for i := range 20 {
			events = append(events, ev(int64(i+1), "queued", "", now))
		}
		Expect(st.apply(ctx, key, events)).To(Equal(resultApplied))
		jobs := getPool(key).Status.Jobs
		Expect(jobs).To(HaveLen(corralv1.MaxTrackedJobs))
		got := states(jobs)
		for i := range 5 {
			Expect(got).NotTo(HaveKey(int64(100+i)), "stale queued job expired")
			Expect(got).NotTo(HaveKey(int64(200+i)), "old completed job expired")
		}
		for i := range 20 {
			Expect(got).To(HaveKeyWithValue(int64(i+1), "Queued/"))
		}
		// 1990 recent completed + 20 new = 2010: the 10 oldest completed made room.
		for i := range corralv1.MaxTrackedJobs - 10 {
			_, kept := got[int64(10000+i)]
			Expect(kept).To(Equal(i < corralv1.MaxTrackedJobs-20), "completed job %d (age %ds)", 10000+i, i)
		}
	})
})
