package autoscale

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// eventRecorder records a verified event in the demand store and returns once it is
// persisted, or why it is not: the webhook handler answers 2xx only on success, the
// delivery recovery counts a delivery recovered only then. matched false means no pool
// matches the event, so there is nothing to persist.
type eventRecorder interface {
	Record(ctx context.Context, ev Event) (matched bool, err error)
}

// recorder matches an event to its pools against the manager's cache and records it in
// each one's demand through the committer, waiting for the writes.
type recorder struct {
	pools     client.Reader
	committer *committer
	metrics   *Metrics
}

var _ eventRecorder = (*recorder)(nil)

// Record implements eventRecorder. On an error the event may be recorded in some of its
// pools or none; recording it again is harmless, as job states only move forward.
func (r *recorder) Record(ctx context.Context, ev Event) (bool, error) {
	var pools corralv1.RunnerPoolList
	// Routing only reads the pools: no need to copy the cache's objects.
	if err := r.pools.List(ctx, &pools, client.UnsafeDisableDeepCopy); err != nil {
		return false, fmt.Errorf("listing RunnerPools to match the job: %w", err)
	}
	keys := newCandidates(pools.Items, ev.Vouch).route(ev)
	if len(keys) == 0 {
		log.FromContext(ctx).V(1).Info("no pool matches the workflow job", "job", ev.JobID, "labels", ev.Labels,
			"repository", ev.Repository, "classes", ev.Vouch.Classes, "classless", ev.Vouch.Global)
		r.metrics.jobEvents.WithLabelValues(resultUnmatched).Inc()
		return false, nil
	}
	commits := make([]*commit, 0, len(keys))
	for _, k := range keys {
		cm, err := r.committer.submit(k, ev)
		if err != nil {
			return true, err
		}
		commits = append(commits, cm)
	}
	for i, cm := range commits {
		if _, err := cm.wait(ctx); err != nil {
			return true, fmt.Errorf("recording job %d in pool %s: %w", ev.JobID, keys[i], err)
		}
	}
	return true, nil
}
