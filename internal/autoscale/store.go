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

// maxWriteAttempts bounds the conflict retries of one write; the work queue retries the
// events later with backoff if they are all spent.
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

// apply merges events into the demand of the pool key and returns the result
// (resultApplied, resultUnchanged, resultPoolGone or resultRejected). An error means the
// events were not recorded and should be retried.
func (s *store) apply(ctx context.Context, key types.NamespacedName, events []Event) (string, error) {
	reader := s.cache
	if reader == nil {
		reader = s.api
	}
	for attempt := 1; ; attempt++ {
		var pool corralv1.RunnerPool
		if err := reader.Get(ctx, key, &pool); err != nil {
			if apierrors.IsNotFound(err) {
				return resultPoolGone, nil
			}
			return "", fmt.Errorf("reading pool %s: %w", key, err)
		}
		if pool.DeletionTimestamp != nil {
			return resultPoolGone, nil
		}
		prefix := github.RunnerNamePrefix(pool.Name, pool.UID)
		entries, changed := mergeDemand(corralv1.DecodeDemand(pool.Status.Demand), events, prefix, s.now(), s.policy)
		if !changed {
			return resultUnchanged, nil
		}
		_, err := s.write(ctx, &pool, corralv1.EncodeDemand(entries))
		switch {
		case err == nil:
			log.FromContext(ctx).V(1).Info("recorded workflow jobs", "pool", key, "events", len(events), "jobs", len(entries))
			return resultApplied, nil
		case apierrors.IsNotFound(err):
			return resultPoolGone, nil
		case apierrors.IsInvalid(err):
			log.FromContext(ctx).Error(err, "the API server refused the pool's demand; dropping the events", "pool", key, "events", len(events))
			return resultRejected, nil
		case !apierrors.IsConflict(err):
			return "", fmt.Errorf("writing the demand of pool %s: %w", key, err)
		}
		s.metrics.conflicts.Inc()
		if attempt == maxWriteAttempts {
			return "", fmt.Errorf("writing the demand of pool %s: still conflicting after %d attempts: %w", key, attempt, err)
		}
		reader = s.api
		// A little jitter so that replicas colliding on a busy pool spread out.
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("writing the demand of pool %s: %w", key, ctx.Err())
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
