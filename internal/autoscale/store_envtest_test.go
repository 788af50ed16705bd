package autoscale

import (
	"context"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/test/gen"
)

// applyEvents is st.apply without a previous write to start from.
func applyEvents(st *store, key types.NamespacedName, events ...Event) (string, error) {
	result, _, err := st.apply(ctx, key, events, nil)
	return result, err
}

// staleReader answers every Get with the object it first read: a cache that never catches up.
type staleReader struct {
	client.Reader
	mu   sync.Mutex
	seen map[types.NamespacedName]*corralv1.RunnerPool
}

func (r *staleReader) Get(ctx context.Context, key types.NamespacedName, obj client.Object, opts ...client.GetOption) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.seen[key]; ok {
		p.DeepCopyInto(obj.(*corralv1.RunnerPool))
		return nil
	}
	if err := r.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	r.seen[key] = obj.(*corralv1.RunnerPool).DeepCopy()
	return nil
}

var _ = Describe("the demand store", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("records jobs in status.demand under its own field manager and leaves the reconciler's fields alone", func() {
		key := createPool(ns, "builders")
		// The reconciler writes its fields with a merge patch.
		pool := getPool(key)
		patch := client.MergeFrom(pool.DeepCopy())
		pool.Status.Idle, pool.Status.Runners = 3, 3
		Expect(k8s.Status().Patch(ctx, pool, patch, client.FieldOwner("corral"))).To(Succeed())

		st := newStore()
		now := time.Now()
		Expect(applyEvents(st, key, ev(1, "queued", "", now), ev(2, "queued", "", now))).To(Equal(resultApplied))
		pool = getPool(key)
		Expect(jobsOf(key)).To(Equal(map[int64]string{1: "Queued/", 2: "Queued/"}))
		Expect(pool.Status.Idle).To(Equal(int32(3)), "the reconciler's field survived the store's write")
		owner := ""
		for _, mf := range pool.ManagedFields {
			if mf.Subresource == "status" && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:demand"`) {
				owner = mf.Manager
				Expect(string(mf.FieldsV1.Raw)).To(Equal(`{"f:status":{"f:demand":{}}}`), "one atomic field, whatever the number of jobs")
			}
		}
		Expect(owner).To(Equal(FieldManager))

		// The reconciler's next merge patch leaves the demand alone.
		patch = client.MergeFrom(pool.DeepCopy())
		pool.Status.Idle, pool.Status.Queued = 1, 2
		Expect(k8s.Status().Patch(ctx, pool, patch, client.FieldOwner("corral"))).To(Succeed())
		Expect(jobsOf(key)).To(HaveLen(2))

		// A delivery with no news writes nothing.
		rv := getPool(key).ResourceVersion
		Expect(applyEvents(st, key, ev(1, "queued", "", now))).To(Equal(resultUnchanged))
		Expect(getPool(key).ResourceVersion).To(Equal(rv))

		// A job moves forward; a deleted pool's events are dropped.
		runner := github.RunnerNamePrefix(key.Name, pool.UID) + "abc12"
		Expect(applyEvents(st, key, ev(1, "in_progress", runner, now))).To(Equal(resultApplied))
		Expect(jobsOf(key)[1]).To(Equal("InProgress/abc12"))
		Expect(DemandOf(getPool(key), time.Now(), time.Hour).BusyRunners).To(Equal(map[string]bool{runner: true}))
		Expect(k8s.Delete(ctx, getPool(key))).To(Succeed())
		Expect(applyEvents(st, key, ev(3, "queued", "", now))).To(Equal(resultPoolGone))
	})

	It("refuses a write based on a stale read", func() {
		key := createPool(ns, "builders")
		stale := getPool(key)
		Expect(applyEvents(newStore(), key, ev(1, "queued", "", time.Now()))).To(Equal(resultApplied))
		_, err := newStore().write(ctx, stale, corralv1.EncodeDemand([]corralv1.DemandEntry{gen.QueuedJob(2, time.Now())}))
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "a write from a stale read must conflict, got %v", err)
		Expect(jobsOf(key)).To(Equal(map[int64]string{1: "Queued/"}))
	})

	It("starts a write from its own last write while the cache lags, and from the API server when that is stale too", func() {
		key := createPool(ns, "builders")
		st := newStore()
		st.cache = &staleReader{Reader: st.api, seen: map[types.NamespacedName]*corralv1.RunnerPool{}}
		_, last, err := st.apply(ctx, key, []Event{ev(1, "queued", "", time.Now())}, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(last).NotTo(BeNil())
		_, last, err = st.apply(ctx, key, []Event{ev(2, "queued", "", time.Now())}, last)
		Expect(err).NotTo(HaveOccurred())
		Expect(testutil.ToFloat64(st.metrics.conflicts)).To(BeZero(), "the hint spared the conflict")
		Expect(jobsOf(key)).To(Equal(map[int64]string{1: "Queued/", 2: "Queued/"}))

		// Another replica writes; the hint is now stale as well: one conflict, nothing lost.
		Expect(applyEvents(newStore(), key, ev(3, "queued", "", time.Now()))).To(Equal(resultApplied))
		_, _, err = st.apply(ctx, key, []Event{ev(4, "queued", "", time.Now())}, last)
		Expect(err).NotTo(HaveOccurred())
		Expect(testutil.ToFloat64(st.metrics.conflicts)).To(Equal(1.0))
		Expect(jobsOf(key)).To(Equal(map[int64]string{1: "Queued/", 2: "Queued/", 3: "Queued/", 4: "Queued/"}))
	})

	It("loses no job when replicas and the reconciler write the same pool at once", func() {
		key := createPool(ns, "builders")
		const replicas, perReplica = 3, 20
		stores := make([]*store, replicas)
		for i := range stores {
			stores[i] = newStore()
		}
		var wg sync.WaitGroup
		errs := make(chan error, replicas*perReplica+20)
		for r, st := range stores {
			wg.Go(func() {
				// Each replica's committer writes one batch at a time; a failed batch is
				// answered 503 and delivered again.
				var last *lastWrite
				for i := range perReplica {
					id := int64(r*1000 + i + 1)
					var err error
					for range 5 {
						if _, last, err = st.apply(ctx, key, []Event{ev(id, "queued", "", time.Now())}, last); err == nil {
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
		Expect(jobsOf(key)).To(HaveLen(replicas*perReplica), "every replica's jobs are there")
		Expect(pool.Status.Idle).To(Equal(int32(19)), "the reconciler's last write is there")
		conflicts := 0.0
		for _, st := range stores {
			conflicts += testutil.ToFloat64(st.metrics.conflicts)
		}
		AddReportEntry("store conflicts retried", conflicts)
		Expect(DemandOf(pool, time.Now(), time.Hour).Queued).To(Equal(int32(replicas * perReplica)))
	})

	It("expires stale jobs and keeps the demand bounded", func() {
		key := createPool(ns, "builders")
		now := time.Now()
		st := newStore()
		var seed []corralv1.DemandEntry
		for i := range corralv1.MaxTrackedJobs - 10 {
			seed = append(seed, gen.DoneJob(int64(10000+i), now.Add(-time.Duration(i)*time.Second)))
		}
		for i := range 5 {
			seed = append(seed, gen.QueuedJob(int64(100+i), now.Add(-st.policy.DemandTTL-time.Hour))) // lost follow-up
			seed = append(seed, gen.DoneJob(int64(200+i), now.Add(-st.policy.CompletedTTL-time.Minute)))
		}
		_, err := st.write(ctx, getPool(key), corralv1.EncodeDemand(seed))
		Expect(err).NotTo(HaveOccurred())
		Expect(corralv1.DecodeDemand(getPool(key).Status.Demand)).To(HaveLen(corralv1.MaxTrackedJobs))
		Expect(DemandOf(getPool(key), now, st.policy.DemandTTL).Queued).To(BeZero(), "expired jobs are no demand even before they are dropped")

		var events []Event
		for i := range 20 {
			events = append(events, ev(int64(i+1), "queued", "", now))
		}
		Expect(applyEvents(st, key, events...)).To(Equal(resultApplied))
		got := jobsOf(key)
		Expect(got).To(HaveLen(corralv1.MaxTrackedJobs))
		for i := range 5 {
			Expect(got).NotTo(HaveKey(int64(100+i)), "stale queued job expired")
			Expect(got).NotTo(HaveKey(int64(200+i)), "old tombstone expired")
		}
		for i := range 20 {
			Expect(got).To(HaveKeyWithValue(int64(i+1), "Queued/"))
		}
		// 1990 recent tombstones + 20 new = 2010: the 10 oldest tombstones made room.
		for i := range corralv1.MaxTrackedJobs - 10 {
			_, kept := got[int64(10000+i)]
			Expect(kept).To(Equal(i < corralv1.MaxTrackedJobs-20), "tombstone %d (age %ds)", 10000+i, i)
		}
	})

	It("is refused a malformed demand by the API server and takes the largest well-formed one", func() {
		key := createPool(ns, "builders")
		st := newStore()
		epoch := &metav1.Time{Time: time.Now().Truncate(time.Second)}
		for _, bad := range []*corralv1.PoolDemand{
			{Epoch: epoch, Queued: "1+1,2+2"},
			{Epoch: epoch, Queued: "0+1"},
			{Epoch: epoch, Running: "1+1"},
			{Epoch: epoch, Running: "1+1=ABCDE"},
			{Epoch: epoch, Done: "1+1 "},
			{Epoch: epoch, Done: strings.Repeat("1+1 ", 20000) + "1+1"},
		} {
			_, err := st.write(ctx, getPool(key), bad)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%.60v: %v", bad, err)
		}
		var largest []corralv1.DemandEntry
		for i := range corralv1.MaxTrackedJobs {
			largest = append(largest, gen.RunningJob(1_000_000_000_000_000_000+int64(i), "z9z9z", epoch.Add(time.Duration(i)*1000*time.Hour)))
		}
		d := corralv1.EncodeDemand(largest)
		_, err := st.write(ctx, getPool(key), d)
		Expect(err).NotTo(HaveOccurred())
		stored := getPool(key).Status.Demand
		Expect(stored.Running).To(Equal(d.Running))
		Expect(stored.Epoch.Equal(d.Epoch)).To(BeTrue())
		Expect(corralv1.DecodeDemand(stored)).To(HaveLen(corralv1.MaxTrackedJobs))
	})
})
