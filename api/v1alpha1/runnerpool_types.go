package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxPoolNameLength bounds a RunnerPool's name so that runner names derived from it
// (<pool>-<6-char hash of the pool UID>-<5-char random suffix>) stay within 63 characters,
// the limit of both Kubernetes labels/hostnames and GitHub runner names.
const MaxPoolNameLength = 40

// RunnerPool is a pool of hardened, ephemeral GitHub Actions runners. Each runner is one pod
// that registers with GitHub through a just-in-time (JIT) configuration, runs one job and is
// then deleted. The pool keeps minIdle runners waiting for jobs, grows with queued jobs up to
// maxRunners, and fences every runner with NetworkPolicies.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rp,categories=corral
// +kubebuilder:printcolumn:name="Scope",type=string,JSONPath=`.spec.github.url`
// +kubebuilder:printcolumn:name="Min Idle",type=integer,JSONPath=`.spec.minIdle`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.maxRunners`
// +kubebuilder:printcolumn:name="Runners",type=integer,JSONPath=`.status.runners`
// +kubebuilder:printcolumn:name="Idle",type=integer,JSONPath=`.status.idle`,priority=1
// +kubebuilder:printcolumn:name="Busy",type=integer,JSONPath=`.status.busy`
// +kubebuilder:printcolumn:name="Pending",type=integer,JSONPath=`.status.pending`,priority=1
// +kubebuilder:printcolumn:name="Queued",type=integer,JSONPath=`.status.queued`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="metadata.name must be at most 40 characters: runner names (<pool>-<hash>-<suffix>) must fit in 63"
type RunnerPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired pool.
	// +required
	Spec RunnerPoolSpec `json:"spec"`

	// status is the observed state of the pool, written by the controller.
	// +optional
	Status RunnerPoolStatus `json:"status,omitempty"`
}

// RunnerPoolList is a list of RunnerPools.
//
// +kubebuilder:object:root=true
type RunnerPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RunnerPool `json:"items"`
}

// RunnerPoolSpec is the desired state of a RunnerPool.
//
// +kubebuilder:validation:XValidation:rule="self.minIdle <= self.maxRunners",message="minIdle must not be greater than maxRunners"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) != has(self.github.credentialsSecretRef)",message="a pool either names a RunnerClass (spec.classRef), which provides the credentials, or its own credentials Secret (spec.github.credentialsSecretRef), not both"
// +kubebuilder:validation:XValidation:rule="!has(self.classRef) || (!has(self.github.additionalCredentialsSecretRefs) && !has(self.github.caBundle) && !has(self.github.proxy))",message="a pool of a RunnerClass takes its credentials, CA bundle and proxy from the class: remove spec.github.additionalCredentialsSecretRefs, caBundle and proxy"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) == has(oldSelf.classRef) && (!has(self.classRef) || self.classRef.name == oldSelf.classRef.name)",message="classRef is immutable: create a new pool for another class"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) || !has(self.template.env) || self.template.env.all(e, !has(e.valueFrom) || (!has(e.valueFrom.secretKeyRef) && !has(e.valueFrom.configMapKeyRef)))",message="template.env may not read Secrets or ConfigMaps (valueFrom): every job's author can read the runner's environment; a RunnerClass with template.envFromSecrets may allow it"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) || !has(self.sandbox.seLinuxOptions) || !has(self.sandbox.seLinuxOptions.type) || self.sandbox.seLinuxOptions.type in ['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']",message="sandbox.seLinuxOptions.type must be container_t, container_init_t, container_kvm_t or container_engine_t (what Pod Security baseline allows); a RunnerClass may allow others"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) || !has(self.sandbox.seccompProfile) || self.sandbox.seccompProfile.type != 'Localhost' || self.sandbox.seccompProfile.localhostProfile == 'corral/podman.json'",message="sandbox.seccompProfile: a Localhost profile other than Corral's corral/podman.json needs a RunnerClass that allows it"
// +kubebuilder:validation:XValidation:rule="!has(self.sandbox.containers) || self.sandbox.containers != 'None' || !has(self.sandbox.seccompProfile) || self.sandbox.seccompProfile.type != 'Localhost' || self.sandbox.seccompProfile.localhostProfile != 'corral/podman.json'",message="containers None must not load the podman seccomp profile corral/podman.json: it allows what only nested containers need"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) || !has(self.sandbox.appArmorProfile) || self.sandbox.appArmorProfile.type != 'Localhost' || self.sandbox.appArmorProfile.localhostProfile == 'corral-podman'",message="sandbox.appArmorProfile: a Localhost profile other than Corral's corral-podman needs a RunnerClass that allows it"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) || !has(self.template.tolerations) || self.template.tolerations.all(t, has(t.key) && size(t.key) > 0 && !t.key.startsWith('node-role.kubernetes.io/'))",message="template.tolerations may not tolerate every taint (an empty key) nor the control plane's (node-role.kubernetes.io/...); a RunnerClass may allow specific tolerations"
// +kubebuilder:validation:XValidation:rule="has(self.classRef) || !has(self.template.priorityClassName) || !self.template.priorityClassName.startsWith('system-')",message="template.priorityClassName may not be a system- priority class: those are for the cluster's own components"
type RunnerPoolSpec struct {
	// classRef names the RunnerClass the pool belongs to: the class provides the
	// credentials, proxy and CA bundle, and bounds everything else the pool sets. Without a
	// class, the pool's credentials Secret must be in its own namespace. Immutable.
	// +optional
	ClassRef *ClassRef `json:"classRef,omitempty"`

	// github says where the runners register and with which credentials.
	// +required
	GitHub GitHubSpec `json:"github"`

	// runnerGroup is the name of the GitHub runner group the runners join. It is resolved to
	// its ID through the GitHub API. Runner groups exist for organization and enterprise
	// scopes; repository-scoped pools must leave the default.
	// +optional
	// +kubebuilder:default=Default
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	RunnerGroup string `json:"runnerGroup,omitempty"`

	// labels are the custom labels the runners carry; a job whose `runs-on` labels are all
	// among these (plus `self-hosted` and the OS/architecture labels the runner adds itself)
	// can run on this pool. Compared case-insensitively, so two labels may not differ only in
	// case.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[^,\s]+$`
	// +kubebuilder:validation:XValidation:rule="self.all(l, self.filter(m, m.lowerAscii() == l.lowerAscii()).size() == 1)",message="labels must be unique, compared case-insensitively"
	// +kubebuilder:validation:XValidation:rule="self.all(l, !(l.lowerAscii() in ['self-hosted']))",message="labels must not contain self-hosted: every runner carries it already"
	Labels []string `json:"labels,omitempty"`

	// minIdle is how many runners are kept registered and waiting for a job. 0 scales the
	// pool to zero when no job is queued (that needs workflow_job webhooks to scale up).
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MinIdle int32 `json:"minIdle"`

	// maxRunners caps the runners (idle and busy) of this pool. 0 pauses the pool: no new
	// runner is created and idle runners are removed; busy ones finish their job.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MaxRunners int32 `json:"maxRunners"`

	// template holds the parts of the runner pod a user may set.
	// +optional
	// +kubebuilder:default={}
	Template RunnerTemplate `json:"template,omitempty"`

	// sandbox says how jobs may run containers inside the runner and how the runner
	// container is confined.
	// +optional
	// +kubebuilder:default={}
	Sandbox SandboxSpec `json:"sandbox,omitempty"`

	// network says where runner pods may connect to. Runner pods never accept connections.
	// +optional
	// +kubebuilder:default={}
	Network NetworkSpec `json:"network,omitempty"`

	// audit records what the pool's jobs do, through Tetragon (docs/audit.md).
	// +optional
	Audit AuditSpec `json:"audit,omitempty"`
}

// GitHubSpec locates the GitHub scope runners register in and the credentials to use.
type GitHubSpec struct {
	// url is the scope runners register in: an organization (https://github.com/ORG), a
	// repository (https://github.com/OWNER/REPO), an enterprise
	// (https://github.com/enterprises/NAME) or the same paths on a GitHub Enterprise Server
	// host (https://ghes.example.com/ORG). Immutable: runners already registered belong to it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https'",message="url must be an https:// URL, e.g. https://github.com/my-org"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getHostname() != ''",message="url must name a host, e.g. https://github.com/my-org"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#') && !self.contains('@')",message="url must not carry a query, fragment or user info"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('https://') || self.matches('^https://[^/]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?/?$')",message="url path must be /ORG, /OWNER/REPO or /enterprises/NAME"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="url is immutable: create a new pool for another scope"
	URL string `json:"url"`

	// credentialsSecretRef names the Secret, in the pool's namespace, holding the
	// credentials of a pool without a class: a GitHub App (keys app-id, installation-id,
	// private-key) or a personal access token (key token). Credentials shared by the
	// platform team come through a RunnerClass instead.
	// +optional
	CredentialsSecretRef *LocalSecretRef `json:"credentialsSecretRef,omitempty"`

	// additionalCredentialsSecretRefs name more credential Secrets (in the pool's namespace)
	// for the same scope, e.g. further GitHub Apps installed on the organization.
	// Registrations are spread across all credentials and a rate-limited one is skipped
	// until its limit resets. A pool of a class uses the class's.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	AdditionalCredentialsSecretRefs []LocalSecretRef `json:"additionalCredentialsSecretRefs,omitempty"`

	// caBundle names a ConfigMap key (in the pool's namespace) with PEM CA certificates to
	// trust for the GitHub API, e.g. for a GitHub Enterprise Server with a private CA. The
	// runners trust it too. A pool of a class uses the class's.
	// +optional
	CABundle *ConfigMapKeyRef `json:"caBundle,omitempty"`

	// proxy is the HTTP(S) proxy used to reach GitHub, by the controller and by the runners.
	// A pool of a class uses the class's.
	// +optional
	Proxy *ProxySpec `json:"proxy,omitempty"`
}

// ClassRef names a RunnerClass.
type ClassRef struct {
	// name of the RunnerClass.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// ConfigMapKeyRef selects a key of a ConfigMap in the pool's namespace.
type ConfigMapKeyRef struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the ConfigMap.
	// +optional
	// +kubebuilder:default=ca.crt
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// ProxySpec is an HTTP(S) proxy configuration.
type ProxySpec struct {
	// httpProxy is the proxy URL for plain HTTP requests (HTTP_PROXY).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="httpProxy must be an http:// or https:// URL"
	HTTPProxy string `json:"httpProxy,omitempty"`

	// httpsProxy is the proxy URL for HTTPS requests (HTTPS_PROXY).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="httpsProxy must be an http:// or https:// URL"
	HTTPSProxy string `json:"httpsProxy,omitempty"`

	// noProxy lists hosts, domains and CIDRs reached without the proxy (NO_PROXY).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	NoProxy []string `json:"noProxy,omitempty"`
}

// RunnerTemplate holds the parts of the runner pod a user may set. Everything else (security
// context, volumes, the runner's environment) is decided by Corral.
type RunnerTemplate struct {
	// image is the runner image: the GitHub Actions runner (run.sh in the working directory,
	// user 1000) plus, for Podman sandboxes, podman and buildah. See docs/runner-image.md.
	// +optional
	// +kubebuilder:default="ghcr.io/corral-run/runner:2.330.0"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// imagePullPolicy of the runner image.
	// +optional
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// imagePullSecrets name Secrets in the pool's namespace used to pull the image.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// resources of the runner container. Limits are always set: when none are given, Corral
	// uses cpu 2 and memory 4Gi (requests cpu 500m, memory 1Gi). corral.run/tun is Corral's
	// to set (sandbox.tunDevice DevicePlugin).
	// +optional
	// +kubebuilder:validation:XValidation:rule="(!has(self.limits) || !('corral.run/tun' in self.limits)) && (!has(self.requests) || !('corral.run/tun' in self.requests))",message="resources may not name corral.run/tun: set sandbox.tunDevice: DevicePlugin and Corral requests it for the runner"
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector constrains runner pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// affinity of runner pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// tolerations of runner pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// priorityClassName of runner pods.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// env are extra environment variables of the runner container. They cannot override the
	// variables Corral sets (the JIT configuration and the runner's exit-code settings).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(e, !(e.name in ['ACTIONS_RUNNER_INPUT_JITCONFIG', 'RUNNER_MANUALLY_TRAP_SIG', 'ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE']))",message="env must not set ACTIONS_RUNNER_INPUT_JITCONFIG, RUNNER_MANUALLY_TRAP_SIG or ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE: Corral sets them"
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// RunnerPoolStatus is the observed state of a RunnerPool.
type RunnerPoolStatus struct {
	// conditions describe the pool: Ready says whether it has its desired runners; the
	// others say why it cannot (credentials, rate limits, quota, scheduling, image).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the controller last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// runners is the number of runner pods of this pool (idle, busy and pending).
	// +optional
	Runners int32 `json:"runners"`

	// idle is the number of registered runners waiting for a job.
	// +optional
	Idle int32 `json:"idle"`

	// busy is the number of runners running a job.
	// +optional
	Busy int32 `json:"busy"`

	// pending is the number of runner pods not yet registered and online (scheduling,
	// pulling the image, starting).
	// +optional
	Pending int32 `json:"pending"`

	// queued is the number of jobs queued for this pool and not yet taken by a runner.
	// +optional
	Queued int32 `json:"queued"`

	// history holds what the controller's decisions depend on between reconciles (backoffs,
	// the last sweep, orphan candidates), so that a restart finds it.
	// +optional
	History PoolHistory `json:"history,omitempty"`

	// demand holds the workflow jobs matched to this pool, written by the webhook receiver
	// (field manager corral-webhook) and read by the reconciler: the pool's demand, shared
	// by every replica of the operator and kept across restarts (format: PoolDemand).
	// +optional
	Demand *PoolDemand `json:"demand,omitempty"`
}

func init() {
	SchemeBuilder.Register(&RunnerPool{}, &RunnerPoolList{})
}
