package gen

import (
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// WithDemand sets status.demand, the pool's webhook demand, to the given jobs.
func WithDemand(jobs ...corralv1.DemandEntry) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Status.Demand = corralv1.EncodeDemand(jobs) }
}

// QueuedJob is a job queued at at, not yet taken by a runner.
func QueuedJob(id int64, at time.Time) corralv1.DemandEntry {
	return corralv1.DemandEntry{ID: id, State: corralv1.JobQueued, At: at}
}

// RunningJob is a job that the pool's runner with this name suffix (5 characters of
// [a-z0-9], after the pool's runner name prefix) took at at.
func RunningJob(id int64, runnerSuffix string, at time.Time) corralv1.DemandEntry {
	return corralv1.DemandEntry{ID: id, State: corralv1.JobInProgress, Runner: runnerSuffix, At: at}
}

// DoneJob is a tombstone: a job that left the queue at at (completed, or taken by another
// pool's runner).
func DoneJob(id int64, at time.Time) corralv1.DemandEntry {
	return corralv1.DemandEntry{ID: id, State: corralv1.JobCompleted, At: at}
}
