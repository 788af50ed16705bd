package v1alpha1

// AuditSpec turns on the recording of what the pool's jobs do, through Tetragon: Corral
// keeps a TracingPolicyNamespaced (cilium.io/v1alpha1) that selects the pool's runner pods.
type AuditSpec struct {
	// enabled records, beside Tetragon's process exec and exit events, every TCP connect
	// with its destination, kernel module loads, BPF program loads and ptrace attaches of the
	// pool's runner pods. Without Tetragon in the cluster the pool runs unaudited and says so
	// in its Audited condition.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// writePaths are absolute path prefixes whose writes are recorded too (for example
	// /etc/ or /home/runner/.docker/).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:Pattern=`^/[^\x00]*$`
	// +kubebuilder:validation:XValidation:rule="self.size() == 0 || self.all(p, !p.contains('/../') && !p.endsWith('/..'))",message="writePaths must not contain '..'"
	WritePaths []string `json:"writePaths,omitempty"`
}

// ClassAudit says whether pools of a class must, may or must not be audited.
// +kubebuilder:validation:Enum=Optional;Required;Forbidden
type ClassAudit string

const (
	// AuditOptional: each pool chooses (the default).
	AuditOptional ClassAudit = "Optional"
	// AuditRequired: a pool of the class must set spec.audit.enabled.
	AuditRequired ClassAudit = "Required"
	// AuditForbidden: a pool of the class must not set spec.audit.enabled.
	AuditForbidden ClassAudit = "Forbidden"
)

const (
	// ConditionAudited is True when the pool's Tetragon policy is in place; False when
	// audit is asked for and cannot be (Tetragon is not installed); absent otherwise.
	ConditionAudited = "Audited"
	// ReasonPolicyApplied: the pool's TracingPolicyNamespaced is in place.
	ReasonPolicyApplied = "PolicyApplied"
	// ReasonTetragonMissing: the cluster has no TracingPolicyNamespaced kind.
	ReasonTetragonMissing = "TetragonMissing"
	// ReasonAuditFailed: the policy could not be written (the message says why).
	ReasonAuditFailed = "AuditFailed"
	// ComponentAudit is the LabelComponent value of the pool's audit policy.
	ComponentAudit = "audit"
)
