package gen

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// WithJobs sets status.jobs, the pool's webhook demand.
func WithJobs(jobs ...corralv1.Job) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Status.Jobs = jobs }
}

// QueuedJob is a job queued at at, not yet taken by a runner.
func QueuedJob(id int64, at time.Time) corralv1.Job {
	t := metav1.NewTime(at)
	return corralv1.Job{ID: id, State: corralv1.JobQueued, Repository: "acme/app", QueuedAt: &t, UpdatedAt: t}
}

// InProgressJob is a job that runner took at at.
func InProgressJob(id int64, runner string, at time.Time) corralv1.Job {
	return corralv1.Job{ID: id, State: corralv1.JobInProgress, RunnerName: runner, Repository: "acme/app", UpdatedAt: metav1.NewTime(at)}
}

// CompletedJob is a job that completed at at.
func CompletedJob(id int64, at time.Time) corralv1.Job {
	return corralv1.Job{ID: id, State: corralv1.JobCompleted, Repository: "acme/app", UpdatedAt: metav1.NewTime(at)}
}
