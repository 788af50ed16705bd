package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EgressMode says where runner pods may connect to, besides DNS and the allow rules.
// +kubebuilder:validation:Enum=Internet;None;Unrestricted
type EgressMode string

const (
	// EgressInternet allows any public address and blocks every range that is not the public
	// internet (RFC 1918, CGNAT, link-local with the cloud metadata endpoint, reserved and
	// multicast ranges, IPv6 ULA and link-local; internal/netpol/cidrs.go lists them).
	EgressInternet EgressMode = "Internet"
	// EgressNone allows only DNS and the pool's allow rules (e.g. an HTTP proxy).
	EgressNone EgressMode = "None"
	// EgressUnrestricted allows every destination, including the cluster's pods and the cloud
	// metadata endpoint. Unsafe for untrusted jobs.
	EgressUnrestricted EgressMode = "Unrestricted"
)

// NetworkSpec says where runner pods may connect to.
//
// +kubebuilder:validation:XValidation:rule="!has(self.egress) || self.egress != 'None' || (has(self.allow) && self.allow.size() > 0)",message="egress None needs at least one allow rule (e.g. an HTTP proxy), or runners can never reach GitHub"
type NetworkSpec struct {
	// egress mode: Internet (default), None or Unrestricted.
	// +optional
	// +kubebuilder:default=Internet
	Egress EgressMode `json:"egress,omitempty"`

	// allow lists extra destinations runner pods may connect to: private endpoints by CIDR,
	// or in-cluster pods by selector (e.g. a GitHub Enterprise Server or a proxy).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Allow []AllowRule `json:"allow,omitempty"`

	// dns says where the cluster resolver runs. Runner pods may send DNS only there.
	// +optional
	// +kubebuilder:default={}
	DNS DNSSpec `json:"dns,omitempty"`
}

// AllowRule is one extra egress destination: a CIDR, or pods selected by namespace and/or
// pod labels; on the given ports (all ports if none are given).
//
// +kubebuilder:validation:XValidation:rule="has(self.cidr) != (has(self.podSelector) || has(self.namespaceSelector))",message="an allow rule needs either cidr or podSelector/namespaceSelector, not both"
type AllowRule struct {
	// cidr is an IPv4 or IPv6 range in canonical form, e.g. 10.20.0.0/24 or fd00:1::/64.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be an IPv4 or IPv6 CIDR such as 10.20.0.0/24"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self).masked() == cidr(self)",message="cidr must be in canonical form: no host bits set (e.g. 10.20.0.0/24, not 10.20.0.5/24)"
	CIDR *string `json:"cidr,omitempty"`

	// podSelector selects in-cluster pods (in the namespaces namespaceSelector selects, or the
	// pool's namespace when it is unset).
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`

	// namespaceSelector selects namespaces whose pods (all, or those podSelector selects) may
	// be reached.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ports the rule allows; all ports when empty.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []PortRule `json:"ports,omitempty"`
}

// PortRule is a port or port range and its protocol.
//
// +kubebuilder:validation:XValidation:rule="!has(self.endPort) || self.endPort >= self.port",message="endPort must not be lower than port"
type PortRule struct {
	// port number.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// endPort makes the rule a range port..endPort.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	EndPort *int32 `json:"endPort,omitempty"`

	// protocol: TCP (default), UDP or SCTP.
	// +optional
	// +kubebuilder:default=TCP
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	Protocol corev1.Protocol `json:"protocol,omitempty"`
}

// DNSSpec locates the cluster resolver.
type DNSSpec struct {
	// namespace of the DNS pods.
	// +optional
	// +kubebuilder:default=kube-system
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// podSelector selects the DNS pods in that namespace. Default k8s-app: kube-dns.
	// +optional
	PodSelector map[string]string `json:"podSelector,omitempty"`

	// cidr is an extra resolver address, e.g. NodeLocal DNSCache's 169.254.20.10/32.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="dns.cidr must be an IPv4 or IPv6 CIDR such as 169.254.20.10/32"
	CIDR *string `json:"cidr,omitempty"`

	// ports the resolver serves on, for UDP and TCP. Default [53] (OpenShift uses 5353).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	Ports []int32 `json:"ports,omitempty"`
}
