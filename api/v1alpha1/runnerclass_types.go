package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunnerClass is a platform team's offer to tenants: where runners may register and with
// which credentials, which namespaces may use it, and the guardrails every pool of the
// class stays within. It is cluster-scoped and owned by admins (as a GatewayClass or a
// Karpenter NodeClass is); a RunnerPool names it in spec.classRef and sets only what it
// allows. The class's credentials live in the operator's namespace and travel only to the
// class's GitHub server, through the class's proxy, trusting the class's CA: nothing a
// tenant writes decides where they go.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rcl,categories=corral
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.spec.github.server`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RunnerClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the offer.
	// +required
	Spec RunnerClassSpec `json:"spec"`

	// status says whether the class can be used.
	// +optional
	Status RunnerClassStatus `json:"status,omitempty"`
}

// RunnerClassList is a list of RunnerClasses.
//
// +kubebuilder:object:root=true
type RunnerClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RunnerClass `json:"items"`
}

// RunnerClassSpec is an offer to tenants and its guardrails. Where a list of allowed values
// is empty, only Corral's safe default is allowed for relaxations (seccomp, AppArmor,
// SELinux, runtime classes, tolerations, priority classes, Unrestricted egress, allow
// rules) and anything is allowed for plain choices (containers mode, networking).
type RunnerClassSpec struct {
	// github says where the class's runners register and with which credentials.
	// +required
	GitHub ClassGitHubSpec `json:"github"`

	// namespaceSelector selects the namespaces whose pools may use the class. {} selects
	// every namespace. Namespace labels are set by admins, not tenants.
	// +required
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// limits bound the pools of the class.
	// +optional
	Limits ClassLimits `json:"limits,omitempty"`

	// sandbox bounds how a pool of the class may confine its runners.
	// +optional
	Sandbox ClassSandbox `json:"sandbox,omitempty"`

	// scheduling bounds where runner pods of the class may run.
	// +optional
	Scheduling ClassScheduling `json:"scheduling,omitempty"`

	// network bounds where runner pods of the class may connect to.
	// +optional
	Network ClassNetwork `json:"network,omitempty"`

	// audit says whether the class's pools must (Required), may (Optional, the default) or
	// must not (Forbidden) set spec.audit.enabled.
	// +optional
	// +kubebuilder:default=Optional
	Audit ClassAudit `json:"audit,omitempty"`

	// template bounds the runner pod template of pools of the class.
	// +optional
	Template ClassTemplate `json:"template,omitempty"`
}

// ClassGitHubSpec is the GitHub side of a class: the server, the scopes pools may name, the
// credentials and how to reach the server.
// +kubebuilder:validation:XValidation:rule="has(self.organizations) || has(self.repositories) || has(self.enterprises)",message="a class must allow at least one organization, repository or enterprise"
type ClassGitHubSpec struct {
	// server is the GitHub host the class's credentials may be sent to: https://github.com
	// or a GitHub Enterprise Server such as https://ghes.example.com. Pools of the class
	// name scopes on this host only.
	// +optional
	// +kubebuilder:default="https://github.com"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != '' && (url(self).getEscapedPath() == '' || url(self).getEscapedPath() == '/') && !self.contains('?') && !self.contains('#') && !self.contains('@')",message="server must be an https:// URL naming only a host, e.g. https://github.com"
	Server string `json:"server,omitempty"`

	// organizations pools may register organization-scoped runners in (case-insensitive).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=100
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	Organizations []string `json:"organizations,omitempty"`

	// repositories pools may register repository-scoped runners in: OWNER/REPO, or OWNER/*
	// for every repository of OWNER (case-insensitive). An organization listed above does
	// not allow its repositories: a narrower scope takes a job's demand before the wider
	// one, so it is granted explicitly.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=201
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*/([A-Za-z0-9._-]+|\*)$`
	Repositories []string `json:"repositories,omitempty"`

	// enterprises pools may register enterprise-scoped runners in (their slugs).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=100
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	Enterprises []string `json:"enterprises,omitempty"`

	// credentialsSecretRef names the credentials Secret in the operator's namespace: a
	// GitHub App (app-id, installation-id, private-key) or a token.
	// +required
	CredentialsSecretRef LocalSecretRef `json:"credentialsSecretRef"`

	// additionalCredentialsSecretRefs name more credentials for the same scopes (more rate
	// limit), in the operator's namespace.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	AdditionalCredentialsSecretRefs []LocalSecretRef `json:"additionalCredentialsSecretRefs,omitempty"`

	// caBundle names a ConfigMap key in the operator's namespace with PEM CA certificates to
	// trust for the server; runners of the class trust it too.
	// +optional
	CABundle *ConfigMapKeyRef `json:"caBundle,omitempty"`

	// proxy reaches the server, for the controller and the class's runners.
	// +optional
	Proxy *ProxySpec `json:"proxy,omitempty"`

	// runnerGroups are the runner groups pools of the class may join (organization and
	// enterprise scopes). Default: Default only.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	RunnerGroups []string `json:"runnerGroups,omitempty"`

	// webhookSecretRef names the Secret key (in the operator's namespace) that signs the
	// workflow_job deliveries of the class's organizations. A delivery is routed to pools
	// of the class only when it verifies with it, so one organization's admin cannot forge
	// another's events. The webhook receiver must be allowed to read it (chart value
	// webhook.secretNames).
	// +optional
	WebhookSecretRef *SecretKeySelector `json:"webhookSecretRef,omitempty"`
}

// LocalSecretRef names a Secret in a namespace fixed by context.
type LocalSecretRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// SecretKeySelector selects a key of a Secret in a namespace fixed by context.
type SecretKeySelector struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// key in the Secret.
	// +optional
	// +kubebuilder:default=webhook-secret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// ClassLimits bound the pools of a class.
type ClassLimits struct {
	// maxRunnersPerPool caps spec.maxRunners of each pool.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MaxRunnersPerPool *int32 `json:"maxRunnersPerPool,omitempty"`

	// maxRunnersPerNamespace caps the sum of spec.maxRunners of the class's pools in one
	// namespace: a pool that would take the sum past it gets no runners.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	MaxRunnersPerNamespace *int32 `json:"maxRunnersPerNamespace,omitempty"`

	// maxResources caps the runner container's limits (cpu, memory, ephemeral-storage).
	// +optional
	MaxResources corev1.ResourceList `json:"maxResources,omitempty"`

	// maxWorkVolume caps spec.sandbox.workVolume.sizeLimit.
	// +optional
	MaxWorkVolume *resource.Quantity `json:"maxWorkVolume,omitempty"`
}

// ClassSandbox bounds a pool's sandbox. Profiles are written as RuntimeDefault,
// Unconfined or Localhost/<profile> (a seccomp path such as Localhost/corral/podman.json,
// an AppArmor profile name such as Localhost/corral-podman).
type ClassSandbox struct {
	// containers modes allowed; empty allows Podman and None.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	Containers []ContainersMode `json:"containers,omitempty"`

	// networking modes of nested containers allowed; empty allows Isolated and Host.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	Networking []NestedNetworking `json:"networking,omitempty"`

	// tunDevices a Podman pool with Isolated networking may get /dev/net/tun by (its
	// effective sandbox.tunDevice, the default DevicePlugin included); empty allows
	// DevicePlugin only: HostPath puts a hostPath in the pod (Pod Security privileged), list
	// it to allow it.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	TunDevices []TunDevice `json:"tunDevices,omitempty"`

	// seccompProfiles the runner container may run under (its effective profile, defaults
	// included); empty allows RuntimeDefault and Localhost/corral/podman.json. Podman pools
	// with Isolated networking and tunDevice HostPath default to Unconfined: list it to
	// allow them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=263
	// +kubebuilder:validation:items:Pattern=`^(RuntimeDefault|Unconfined|Localhost/[^/.][^\s]*)$`
	SeccompProfiles []string `json:"seccompProfiles,omitempty"`

	// appArmorProfiles the runner container may run under (effective, defaults included);
	// empty allows RuntimeDefault and Localhost/corral-podman.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=263
	// +kubebuilder:validation:items:Pattern=`^(RuntimeDefault|Unconfined|Localhost/[^\s]+)$`
	AppArmorProfiles []string `json:"appArmorProfiles,omitempty"`

	// seLinuxTypes are the seLinuxOptions.type values a pool may set; empty allows none
	// (seLinuxOptions stays unset). user, role and level are never allowed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=63
	SELinuxTypes []string `json:"seLinuxTypes,omitempty"`

	// userNamespace Required makes every pool of the class run in a user namespace
	// (hostUsers: false); Allowed (default) leaves it to the pool.
	// +optional
	// +kubebuilder:default=Allowed
	// +kubebuilder:validation:Enum=Allowed;Required
	UserNamespace UserNamespacePolicy `json:"userNamespace,omitempty"`

	// runtimeClassNames a pool may set; empty allows none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	RuntimeClassNames []string `json:"runtimeClassNames,omitempty"`
}

// UserNamespacePolicy says whether a class's pools must run in user namespaces.
type UserNamespacePolicy string

const (
	// UserNamespaceAllowed leaves spec.sandbox.userNamespace to the pool.
	UserNamespaceAllowed UserNamespacePolicy = "Allowed"
	// UserNamespaceRequired requires spec.sandbox.userNamespace: true.
	UserNamespaceRequired UserNamespacePolicy = "Required"
)

// ClassScheduling bounds where a class's runner pods run.
type ClassScheduling struct {
	// nodeSelector is added to every runner pod of the class; a pool's own nodeSelector may
	// not set these keys to other values.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations a pool may use: each of a pool's tolerations must equal one of these.
	// Empty allows none.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// priorityClassNames a pool may set; empty allows none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	PriorityClassNames []string `json:"priorityClassNames,omitempty"`
}

// ClassNetwork bounds where a class's runner pods may connect to.
type ClassNetwork struct {
	// egress modes allowed; empty allows Internet and None (Unrestricted must be listed).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	Egress []EgressMode `json:"egress,omitempty"`

	// allowedCIDRs bound the pools' CIDR allow rules: each must lie within one of these.
	// Empty allows no CIDR rule.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="allowedCIDRs entries must be CIDRs such as 10.20.0.0/24"
	AllowedCIDRs []string `json:"allowedCIDRs,omitempty"`

	// allowedNamespaceSelectors are the namespaceSelectors a pool's allow rules may use (each
	// rule's selector must equal one of these). Rules with only a podSelector (the pool's
	// own namespace) are always allowed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	AllowedNamespaceSelectors []metav1.LabelSelector `json:"allowedNamespaceSelectors,omitempty"`

	// dns is where runner pods of the class send DNS; pools of the class may not set their
	// own. Default: kube-dns in kube-system on port 53.
	// +optional
	DNS *DNSSpec `json:"dns,omitempty"`
}

// ClassTemplate bounds a pool's runner template.
type ClassTemplate struct {
	// images are the image prefixes a pool's runner image must start with (e.g.
	// ghcr.io/acme/); empty allows any image.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	Images []string `json:"images,omitempty"`

	// envFromSecrets allows a pool's env to read Secrets and ConfigMaps of its namespace
	// (valueFrom secretKeyRef and configMapKeyRef). Every job's author can read the runner's
	// environment, so the default is false.
	// +optional
	EnvFromSecrets bool `json:"envFromSecrets,omitempty"`
}

// RunnerClassStatus says whether a class can be used.
type RunnerClassStatus struct {
	// conditions: Ready says whether the class's Secrets and ConfigMaps exist.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// credentials says what the class's main credentials Secret holds, without any secret
	// of it: the webhook receiver checks that a GitHub App's delivery comes through this
	// installation without being allowed to read the Secret (which holds the App's key).
	// +optional
	Credentials *ClassCredentials `json:"credentials,omitempty"`
}

// ClassCredentials describes a class's credentials without their secret part.
type ClassCredentials struct {
	// kind is App (a GitHub App installation) or Token.
	// +required
	// +kubebuilder:validation:Enum=App;Token
	Kind string `json:"kind"`

	// appID is the GitHub App's ID (kind App).
	// +optional
	AppID int64 `json:"appID,omitempty"`

	// installationID is the App installation's ID (kind App).
	// +optional
	InstallationID int64 `json:"installationID,omitempty"`
}

func init() {
	SchemeBuilder.Register(&RunnerClass{}, &RunnerClassList{})
}
