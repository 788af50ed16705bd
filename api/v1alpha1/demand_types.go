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

	// attributions identify the jobs this pool's runners took recently (the in_progress
	// deliveries of the last AttributionTTL, newest first, at most MaxAttributionBytes), so
	// that the reconciler labels each runner pod with its job. One line per job:
	// "JOBID SUFFIX STARTED RUNID ATTEMPT REPOSITORY WORKFLOW JOB SENDER" (STARTED in Unix
	// seconds; each text percent-escaped, "-" when empty). A job leaves once it stops running.
	// +optional
	// +kubebuilder:validation:MaxLength=8192
	Attributions string `json:"attributions,omitempty"`
}

// AttributionTTL is how long a job stays in status.demand.attributions after it started
// (the reconciler labels its pod within seconds); MaxAttributionBytes bounds the field, so
// that with MaxTrackedJobs running the pool still fits the size the demand is built for.
const (
	AttributionTTL      = 10 * time.Minute
	MaxAttributionBytes = 8192
	// MaxAttributionValue bounds each text of a JobAttribution, in bytes; the webhook
	// receiver cuts longer ones (at a character boundary) and drops control characters.
	MaxAttributionValue = 256
)
