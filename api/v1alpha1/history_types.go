package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// MaxOrphanCandidates bounds status.history.orphanCandidates.
const MaxOrphanCandidates = 100

// PoolHistory holds the facts the controller's decisions depend on from one reconcile to
// the next: failure backoffs, a refused runner version, the last sweep and the
// registrations waiting out their grace. They live in the pool's status so that an
// operator restart (or a new leader) finds them: a controller restarted every 30 seconds
// still backs off and still removes orphaned registrations. Written by the controller only.
type PoolHistory struct {
	// runnerFailures counts consecutive runners that failed: exited without finishing a
	// job, stayed pending past the pending timeout, or were refused by admission. New
	// runners wait 10 s after the first failure, doubling up to 10 minutes. A runner that
	// finishes its job resets it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RunnerFailures int32 `json:"runnerFailures,omitempty"`

	// lastRunnerFailureTime is when the last of those failures was seen.
	// +optional
	LastRunnerFailureTime *metav1.Time `json:"lastRunnerFailureTime,omitempty"`

	// lastRunnerFailure says what the last of those failures was.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastRunnerFailure string `json:"lastRunnerFailure,omitempty"`

	// forgeFailures counts consecutive reconciles whose calls to GitHub failed (server
	// errors, timeouts, rate limits) with none getting through. Calls wait 1 s after the
	// first, doubling up to 5 minutes; then one call probes before the pool calls at full
	// speed again. A reconcile where some calls succeeded and one failed sets it to 1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ForgeFailures int32 `json:"forgeFailures,omitempty"`

	// forgeRetryTime is the earliest time the pool calls GitHub again: the end of its
	// backoff or of a rate limit.
	// +optional
	ForgeRetryTime *metav1.Time `json:"forgeRetryTime,omitempty"`

	// deprecatedTemplateHash is the template hash whose runner exited with code 7 (GitHub
	// no longer accepts its runner version): no runner is created from it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	DeprecatedTemplateHash string `json:"deprecatedTemplateHash,omitempty"`

	// lastSweepTime is when the pool's registrations were last compared with its pods.
	// +optional
	LastSweepTime *metav1.Time `json:"lastSweepTime,omitempty"`

	// orphanCandidates are the registrations the last sweep found offline and without a
	// pod. One still so once its grace has passed since firstSeen is removed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	OrphanCandidates []OrphanCandidate `json:"orphanCandidates,omitempty"`
}

// OrphanCandidate is a registration seen without a pod.
type OrphanCandidate struct {
	// name of the runner.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`

	// firstSeen is when a sweep first saw it without a pod.
	// +required
	FirstSeen metav1.Time `json:"firstSeen"`
}
