package autoscale

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// maxWriteAttempts bounds the conflict retries of one write.
const maxWriteAttempts = 8

// store is the demand store: each pool's status.demand. It reads a pool, merges events into
// its demand (mergeDemand) and writes the demand back with a server-side apply under
// FieldManager whose resourceVersion precondition makes the API server refuse the write if
// anyone changed the pool since the read; then it reads again and retries. So two replicas
// writing the same pool at once never lose each other's jobs, and the apply body carries
// only status.demand, so the reconciler's status fields are never touched.
type store struct {
	// cache serves the first read of each write (nil: api); it may be stale, which costs
	// one conflict at worst.
	cache client.Reader
	// api serves the reads after a conflict.
	api     client.Reader
	writer  client.Client
	policy  Policy
	metrics *Metrics
	now     func() time.Time
}

// lastWrite is what a write of a pool's demand left: the pool as the API server stored
// it (only what the store reads of it) and the resourceVersion the write was based on.
// The next write of the pool starts from it while the cache still shows that older
// version, which spares a conflict on a busy pool.
type lastWrite struct {
	basedOn string
	pool    *corralv1.RunnerPool
}

// apply merges events into the demand of the pool key and returns the result
// (resultApplied, resultUnchanged, resultPoolGone or resultRejected) and what the write
// left, for the next apply of the pool (prev, nil for none). An error means the events
// were not recorded.
func (s *store) apply(ctx context.Context, key types.NamespacedName, events []Event, prev *lastWrite) (string, *lastWrite, error) {
	reader := s.cache
	if reader == nil {
		reader = s.api
	}
	attributing := true
	for attempt := 1; ; attempt++ {
		var pool corralv1.RunnerPool
		if err := reader.Get(ctx, key, &pool); err != nil {
			if apierrors.IsNotFound(err) {
				return resultPoolGone, nil, nil
			}
			return "", prev, fmt.Errorf("reading pool %s: %w", key, err)
		}
		base := &pool
		if attempt == 1 && prev != nil && prev.pool.UID == pool.UID && prev.basedOn == pool.ResourceVersion {
			base = prev.pool // the cache has not seen our last write yet
		}
		if base.DeletionTimestamp != nil {
			return resultPoolGone, nil, nil
		}
		prefix := github.RunnerNamePrefix(base.Name, base.UID)
		entries, changed := mergeDemand(corralv1.DecodeDemand(base.Status.Demand), events, prefix, s.now(), s.policy)
		if !changed {
			return resultUnchanged, prev, nil
		}
		demand := corralv1.EncodeDemand(entries)
		if attributing {
			var attributed []corralv1.JobAttribution
			if d := base.Status.Demand; d != nil {
				attributed = corralv1.DecodeAttributions(d.Attributions)
			}
			demand.Attributions = corralv1.EncodeAttributions(attribute(attributed, events, entries, prefix, s.now()))
		}
		stored, err := s.write(ctx, base, demand)
		switch {
		case err == nil:
			log.FromContext(ctx).V(1).Info("recorded workflow jobs", "pool", key, "events", len(events), "jobs", len(entries))
			var next *lastWrite
			if stored != nil {
				next = &lastWrite{basedOn: base.ResourceVersion, pool: stored}
			}
			return resultApplied, next, nil
		case apierrors.IsNotFound(err):
			return resultPoolGone, nil, nil
		case apierrors.IsInvalid(err) && demand.Attributions != "":
			// The jobs' attribution is a convenience; the demand is not: never lose it to one.
			log.FromContext(ctx).Error(err, "the API server refused the jobs' attribution; writing the demand without it", "pool", key)
			attributing = false
			continue
		case apierrors.IsInvalid(err):
			log.FromContext(ctx).Error(err, "the API server refused the pool's demand", "pool", key, "events", len(events))
			return resultRejected, nil, nil
		case !apierrors.IsConflict(err):
			return "", nil, fmt.Errorf("writing the demand of pool %s: %w", key, err)
		}
		s.metrics.conflicts.Inc()
		if attempt == maxWriteAttempts {
			return "", nil, fmt.Errorf("writing the demand of pool %s: still conflicting after %d attempts: %w", key, attempt, err)
		}
		reader = s.api
		// A little jitter so that replicas colliding on a busy pool spread out.
		select {
		case <-ctx.Done():
			return "", nil, fmt.Errorf("writing the demand of pool %s: %w", key, ctx.Err())
		case <-time.After(time.Duration(rand.Int64N(int64(10*time.Millisecond) * int64(attempt)))):
		}
	}
}

// write applies demand as the pool's status.demand, on the condition that the pool is
// still at the resourceVersion it was read at, and returns the pool as stored (only what
// the store reads of it; nil if the answer could not be read).
func (s *store) write(ctx context.Context, pool *corralv1.RunnerPool, demand *corralv1.PoolDemand) (*corralv1.RunnerPool, error) {
	raw, err := json.Marshal(map[string]any{"demand": demand})
	if err != nil {
		return nil, fmt.Errorf("encoding the demand: %w", err)
	}
	var status map[string]any
	if err := json.Unmarshal(raw, &status); err != nil {
		return nil, fmt.Errorf("encoding the demand: %w", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetAPIVersion(corralv1.GroupVersion.String())
	u.SetKind("RunnerPool")
	u.SetNamespace(pool.Namespace)
	u.SetName(pool.Name)
	u.SetResourceVersion(pool.ResourceVersion)
	if err := s.writer.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return nil, err
	}
	var stored corralv1.RunnerPool
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &stored); err != nil || stored.ResourceVersion == "" {
		return nil, nil // written all the same; only the hint for the next write is lost
	}
	return &corralv1.RunnerPool{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: stored.Namespace, Name: stored.Name, UID: stored.UID,
			ResourceVersion: stored.ResourceVersion, DeletionTimestamp: stored.DeletionTimestamp,
		},
		Status: corralv1.RunnerPoolStatus{Demand: stored.Status.Demand},
	}, nil
}
