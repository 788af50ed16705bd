package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// JobState is how far a workflow job has got. It only moves forward:
// Queued -> InProgress -> Completed.
// +kubebuilder:validation:Enum=Queued;InProgress;Completed
type JobState string

const (
	// JobQueued: GitHub queued the job (or it is waiting); it wants a runner of this pool.
	JobQueued JobState = "Queued"
	// JobInProgress: a runner (runnerName) took the job; that runner is busy.
	JobInProgress JobState = "InProgress"
	// JobCompleted: the job finished (any conclusion). Kept for a while so that late or
	// redelivered events cannot bring it back.
	JobCompleted JobState = "Completed"
)

// MaxTrackedJobs bounds status.jobs.
const MaxTrackedJobs = 2000

// Job is a workflow job matched to this pool by a workflow_job webhook delivery.
type Job struct {
	// id is GitHub's workflow job ID.
	// +required
	ID int64 `json:"id"`

	// state of the job.
	// +required
	State JobState `json:"state"`

	// runnerName is the runner that took the job (InProgress and Completed).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RunnerName string `json:"runnerName,omitempty"`

	// repository is the job's repository (owner/name).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Repository string `json:"repository,omitempty"`

	// queuedAt is when the job was first seen queued by Corral.
	// +optional
	QueuedAt *metav1.Time `json:"queuedAt,omitempty"`

	// updatedAt is when the job's state last changed; jobs with no news past the demand
	// TTL expire.
	// +required
	UpdatedAt metav1.Time `json:"updatedAt"`
}
