package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JobState is how far a workflow job has got. It only moves forward:
// Queued -> InProgress -> Completed.
type JobState string

const (
	// JobQueued: GitHub queued the job (or it is waiting); it wants a runner of this pool.
	JobQueued JobState = "Queued"
	// JobInProgress: a runner took the job; that runner is busy.
	JobInProgress JobState = "InProgress"
	// JobCompleted: the job finished (any conclusion). Kept for a while so that late or
	// redelivered events cannot bring it back.
	JobCompleted JobState = "Completed"
)

// MaxTrackedJobs bounds the entries of status.demand: queued, running and done together.
const MaxTrackedJobs = 2000

// DemandRunnerSuffixLength is the length of the runner suffix of a running entry: the
// random part of a runner name after the pool's prefix "<pool>-<6 hex>-".
const DemandRunnerSuffixLength = 5

// PoolDemand is the demand of a pool: the workflow jobs the webhook receiver matched to it.
// Each list is a space-separated string of entries sorted by job ID, one entry per job, a
// job in at most one list:
//
//	queued:  "JOBID+MS"         a job waiting for a runner, first seen queued MS ms after epoch
//	running: "JOBID+MS=SUFFIX"  a job one of this pool's runners took MS ms after epoch; the
//	                            runner is named "<pool>-<6 hex>-SUFFIX" and is busy
//	done:    "JOBID+MS"         a tombstone: the job left the queue (completed, or taken by a
//	                            runner of another pool) MS ms after epoch; it blocks late or
//	                            redelivered events from bringing the job back
//
// For example, epoch "2026-01-01T12:00:00Z" and queued "41234567890+250 41234567999+1520"
// mean job 41234567890 was first seen queued at 12:00:00.250 and job 41234567999 at
// 12:00:01.520. epoch is the oldest entry's time in whole seconds, so offsets stay small.
//
// Only the webhook receiver writes it (field manager corral-webhook, server-side apply with
// the resourceVersion as a precondition); the reconciler reads it and never writes it.
// +structType=atomic
type PoolDemand struct {
	// epoch is the time the offsets (MS) of the entries count from: the oldest entry's
	// time, in whole seconds.
	// +optional
	Epoch *metav1.Time `json:"epoch,omitempty"`

	// queued are the jobs waiting for a runner of this pool, space-separated and sorted by
	// job ID: "JOBID+MS", the job first seen queued MS milliseconds after epoch.
	// +optional
	// +kubebuilder:validation:MaxLength=66000
	// +kubebuilder:validation:Pattern=`^([1-9][0-9]{0,18}\+[0-9]{1,12}( [1-9][0-9]{0,18}\+[0-9]{1,12})*)?$`
	Queued string `json:"queued,omitempty"`

	// running are the jobs this pool's runners are running, space-separated and sorted by
	// job ID: "JOBID+MS=SUFFIX", the job taken MS milliseconds after epoch by the runner
	// named <pool>-<6 hex>-SUFFIX, which is busy.
	// +optional
	// +kubebuilder:validation:MaxLength=78000
	// +kubebuilder:validation:Pattern=`^([1-9][0-9]{0,18}\+[0-9]{1,12}=[a-z0-9]{5}( [1-9][0-9]{0,18}\+[0-9]{1,12}=[a-z0-9]{5})*)?$`
	Running string `json:"running,omitempty"`

	// done are tombstones, space-separated and sorted by job ID: "JOBID+MS", the job left
	// the queue (completed, or taken by another pool's runner) MS milliseconds after epoch;
	// late or redelivered events for it change nothing.
	// +optional
	// +kubebuilder:validation:MaxLength=66000
	// +kubebuilder:validation:Pattern=`^([1-9][0-9]{0,18}\+[0-9]{1,12}( [1-9][0-9]{0,18}\+[0-9]{1,12})*)?$`
	Done string `json:"done,omitempty"`

	// jobs identify the jobs this pool's runners took recently (the in_progress deliveries
	// of the last AttributionTTL, newest MaxAttributions), so that the reconciler labels
	// each runner pod with its job. A job leaves the list once it stops running.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Jobs []JobAttribution `json:"jobs,omitempty"`
}

// MaxAttributions bounds status.demand.jobs; AttributionTTL is how long a job stays there
// after it started (the reconciler labels its pod within seconds).
const (
	MaxAttributions = 256
	AttributionTTL  = 10 * time.Minute
	// MaxAttributionValue bounds each text of a JobAttribution, in bytes; the webhook
	// receiver cuts longer ones (at a character boundary) and drops control characters.
	MaxAttributionValue = 256
)

// JobAttribution is the identity of a workflow job one of the pool's runners took, from
// its in_progress delivery. Repository and sender are GitHub's; workflow and job names are
// whatever the workflow's author wrote: never trust them for access decisions.
type JobAttribution struct {
	// runner is the suffix of the runner that took the job (see running).
	// +kubebuilder:validation:Pattern=`^[a-z0-9]{5}$`
	Runner string `json:"runner"`
	// jobID is GitHub's workflow job ID.
	// +kubebuilder:validation:Minimum=1
	JobID int64 `json:"jobID"`
	// repository is owner/name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Repository string `json:"repository,omitempty"`
	// workflow is the workflow's name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Workflow string `json:"workflow,omitempty"`
	// runID is the workflow run's ID.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RunID int64 `json:"runID,omitempty"`
	// runAttempt is the run's attempt, from 1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RunAttempt int32 `json:"runAttempt,omitempty"`
	// job is the job's name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Job string `json:"job,omitempty"`
	// sender is the login of the user whose action triggered the delivery.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Sender string `json:"sender,omitempty"`
	// startedAt is when the receiver learned the job started.
	StartedAt metav1.Time `json:"startedAt"`
}
