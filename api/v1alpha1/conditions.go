package v1alpha1

// Condition types of a RunnerPool.
const (
	// ConditionReady is True when the pool has its desired runners and nothing stops it.
	ConditionReady = "Ready"
	// ConditionScalingBlocked is True when something stops the pool from reaching its
	// desired runners; its reason says what (credentials, rate limit, quota, admission,
	// scheduling, image).
	ConditionScalingBlocked = "ScalingBlocked"
	// ConditionStalled is True when the pool cannot progress until a user fixes something
	// (bad credentials, missing App permission, deprecated runner image). The controller
	// stops retrying hot while it is True.
	ConditionStalled = "Stalled"
)

// Condition reasons of a RunnerPool (and, where they say so, of a RunnerClass's Ready).
const (
	// ReasonReconciled: the pool has its desired runners.
	ReasonReconciled = "Reconciled"
	// ReasonScaling: runners are being created or removed towards the desired count.
	ReasonScaling = "Scaling"
	// ReasonCredentialsInvalid: the credentials Secret is missing, malformed, not shared
	// with the pool's namespace, or GitHub rejected it.
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonConfigInvalid: the pool's GitHub settings cannot work as written: an unusable
	// URL, proxy or CA bundle, or a runner group GitHub does not know.
	ReasonConfigInvalid = "ConfigInvalid"
	// ReasonPermissionDenied: GitHub refused a call for a missing App permission.
	ReasonPermissionDenied = "PermissionDenied"
	// ReasonRateLimited: GitHub's rate limit is exhausted; the pool waits for the reset.
	ReasonRateLimited = "RateLimited"
	// ReasonGitHubUnavailable: GitHub answered with errors or timed out; retried with backoff.
	ReasonGitHubUnavailable = "GitHubUnavailable"
	// ReasonQuotaExceeded: a ResourceQuota rejected a runner pod; retried with backoff.
	ReasonQuotaExceeded = "QuotaExceeded"
	// ReasonAdmissionRejected: the API server or an admission webhook (e.g. Pod Security)
	// rejected a runner pod.
	ReasonAdmissionRejected = "AdmissionRejected"
	// ReasonRunnerFailures: runners exited without taking a job or failed to start; new
	// runners are backed off.
	ReasonRunnerFailures = "RunnerFailures"
	// ReasonUnschedulable: runner pods cannot be scheduled.
	ReasonUnschedulable = "Unschedulable"
	// ReasonRunnerVersionDeprecated: a runner exited with code 7 (its version is too old for
	// GitHub). No runner is created from this template until the image changes.
	ReasonRunnerVersionDeprecated = "RunnerVersionDeprecated"
	// ReasonClassNotFound: spec.classRef names a RunnerClass that does not exist.
	ReasonClassNotFound = "ClassNotFound"
	// ReasonClassNotAllowed: the pool's namespace is not among those its RunnerClass
	// serves (the class's namespaceSelector).
	ReasonClassNotAllowed = "ClassNotAllowed"
	// ReasonClassViolation: the pool asks for more than its RunnerClass allows; the
	// message names the fields. No runner is created until it fits.
	ReasonClassViolation = "ClassViolation"
	// ReasonPolicyViolation: the runner pod built for the pool breaks Corral's hardening
	// policy (checked before every creation); no runner is created.
	ReasonPolicyViolation = "PolicyViolation"
	// ReasonPaused: maxRunners is 0.
	ReasonPaused = "Paused"
	// ReasonDeleting: the pool is being deleted and drains its runners.
	ReasonDeleting = "Deleting"
)

// Labels, annotations and finalizers Corral sets.
const (
	// LabelPool carries the owning pool's name on runner pods, JIT Secrets and policies.
	LabelPool = "corral.run/pool"
	// LabelRunner carries the runner name on runner pods and JIT Secrets.
	LabelRunner = "corral.run/runner"
	// LabelComponent distinguishes runner pods, JIT Secrets and NetworkPolicies.
	LabelComponent = "corral.run/component"
	// LabelManagedBy marks every object Corral creates; caches select on it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "corral"

	// AnnotationRunnerID records the GitHub runner ID on a runner pod.
	AnnotationRunnerID = "corral.run/runner-id"
	// AnnotationTemplateHash records the hash of the pool template a pod was built from.
	AnnotationTemplateHash = "corral.run/template-hash"

	// Job attribution: a runner pod that took a job carries the job's identity, as labels
	// where the value is a valid label value as it is (else only the annotation of the same
	// key), and as annotations always. Workflow, job and sender are the workflow author's
	// or GitHub's words, never a basis for a selector that grants anything.
	LabelJobRepository = "corral.run/repository" // owner.name (the "/" as ".")
	LabelJobWorkflow   = "corral.run/workflow"
	LabelJobRunID      = "corral.run/run-id"
	LabelJobRunAttempt = "corral.run/run-attempt"
	LabelJobName       = "corral.run/job"
	LabelJobID         = "corral.run/job-id"
	LabelJobSender     = "corral.run/sender"

	// FinalizerPool holds a pool until its runners are drained.
	FinalizerPool = "corral.run/drain"
	// FinalizerRunner holds a runner pod until its GitHub registration is removed.
	FinalizerRunner = "corral.run/deregister"
)

// Values of LabelComponent.
const (
	ComponentRunner        = "runner"
	ComponentJITConfig     = "jit-config"
	ComponentNetworkPolicy = "network-policy"
)
