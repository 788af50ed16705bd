// Package netpol builds the NetworkPolicies that fence a RunnerPool's runner pods: no
// ingress at all, DNS only to the cluster resolver, and egress by the pool's mode (public
// internet only, nothing, or everything) plus its explicit allow rules. Build is pure.
//
// NetworkPolicies are additive allow-lists: a pod selected by any policy with an Egress
// type may send only what some selecting policy allows. The deny-all policy makes the pods
// isolated in both directions; the others add exactly the allowed egress.
package netpol

import (
	"maps"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Name suffixes of a pool's NetworkPolicies (the names are <pool>-<suffix>).
const (
	// SuffixDenyAll names the policy that isolates runner pods: no ingress, no egress.
	SuffixDenyAll = "deny-all"
	// SuffixDNS names the policy that allows DNS to the cluster resolver.
	SuffixDNS = "allow-dns"
	// SuffixEgress names the policy that allows the egress mode's destinations and the
	// pool's allow rules.
	SuffixEgress = "allow-egress"
)

// Cluster DNS defaults, for pools that leave network.dns unset.
const (
	DefaultDNSNamespace = "kube-system"
	DefaultDNSPort      = int32(53)
)

// DefaultDNSPodSelector is the label of the cluster DNS pods (CoreDNS and kube-dns both
// keep k8s-app: kube-dns).
func DefaultDNSPodSelector() map[string]string {
	return map[string]string{"k8s-app": "kube-dns"}
}

// Names returns the names of the pool's NetworkPolicies. The set is the same for every
// mode, so a change of mode updates the policies in place and never leaves one behind.
func Names(poolName string) []string {
	return []string{poolName + "-" + SuffixDenyAll, poolName + "-" + SuffixDNS, poolName + "-" + SuffixEgress}
}

// Build returns the pool's NetworkPolicies, in the order of Names. Each is labelled with
// the pool, component network-policy and managed-by, controlled by the pool, and selects
// the pool's runner pods by their pool and component labels. nodes are the cluster's node
// addresses: the Internet mode excepts the public ones too (NodeExceptions).
func Build(pool *corralv1.RunnerPool, nodes ...netip.Addr) []*networkingv1.NetworkPolicy {
	names := Names(pool.Name)
	deny := newPolicy(pool, names[0], networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)

	dns := newPolicy(pool, names[1], networkingv1.PolicyTypeEgress)
	dns.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{dnsRule(pool.Spec.Network.DNS)}

	egress := newPolicy(pool, names[2], networkingv1.PolicyTypeEgress)
	egress.Spec.Egress = append(modeRules(pool.Spec.Network.Egress, nodes), allowRules(pool.Spec.Network.Allow)...)

	return []*networkingv1.NetworkPolicy{deny, dns, egress}
}

// RunnerPodSelector selects the pool's runner pods.
func RunnerPodSelector(poolName string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{
		corralv1.LabelPool:      poolName,
		corralv1.LabelComponent: corralv1.ComponentRunner,
	}}
}

// newPolicy is an empty policy of pool for its runner pods, with the given types.
func newPolicy(pool *corralv1.RunnerPool, name string, types ...networkingv1.PolicyType) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: pool.Namespace,
			Labels: map[string]string{
				corralv1.LabelPool:      pool.Name,
				corralv1.LabelComponent: corralv1.ComponentNetworkPolicy,
				corralv1.LabelManagedBy: corralv1.ManagedByValue,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         corralv1.GroupVersion.String(),
				Kind:               "RunnerPool",
				Name:               pool.Name,
				UID:                pool.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: RunnerPodSelector(pool.Name),
			PolicyTypes: types,
		},
	}
}

// dnsRule allows DNS (UDP and TCP on each resolver port) to the cluster DNS pods, selected
// by namespace name and pod labels, and to the optional resolver CIDR (e.g. NodeLocal
// DNSCache's 169.254.20.10/32). Not port 53 anywhere: a resolver of the job's choosing is
// reachable only if the egress mode allows its address anyway.
func dnsRule(dns corralv1.DNSSpec) networkingv1.NetworkPolicyEgressRule {
	ns := dns.Namespace
	if ns == "" {
		ns = DefaultDNSNamespace
	}
	selector := dns.PodSelector
	if len(selector) == 0 {
		selector = DefaultDNSPodSelector()
	}
	ports := dns.Ports
	if len(ports) == 0 {
		ports = []int32{DefaultDNSPort}
	}
	rule := networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: maps.Clone(selector)},
		}},
	}
	if dns.CIDR != nil {
		rule.To = append(rule.To, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: *dns.CIDR}})
	}
	for _, p := range ports {
		for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
			rule.Ports = append(rule.Ports, networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(p))})
		}
	}
	return rule
}

// ExceptsNodes reports whether the egress mode's rules except the nodes' public addresses:
// Internet, the default, does; None allows no address to except from, Unrestricted all.
func ExceptsNodes(mode corralv1.EgressMode) bool {
	return mode != corralv1.EgressNone && mode != corralv1.EgressUnrestricted
}

// modeRules are the egress rules of an egress mode: Internet allows every public address
// on every port but the nodes', None nothing, Unrestricted everything (an empty rule
// matches all destinations; without it the deny-all policy would still isolate the pods).
func modeRules(mode corralv1.EgressMode, nodes []netip.Addr) []networkingv1.NetworkPolicyEgressRule {
	switch mode {
	case corralv1.EgressNone:
		return nil
	case corralv1.EgressUnrestricted:
		return []networkingv1.NetworkPolicyEgressRule{{}}
	default:
		v4, v6 := NodeExceptions(nodes)
		return []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: append(NonPublicIPv4(), v4...)}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: append(NonPublicIPv6(), v6...)}},
		}}}
	}
}

// allowRules turn the pool's allow rules into egress rules: a CIDR as an ipBlock, or pod
// and namespace selectors with NetworkPolicy's own meaning (a pod selector alone selects
// in the pool's namespace; a namespace selector alone selects all pods there; both
// intersect); on the given ports, or all ports.
func allowRules(allow []corralv1.AllowRule) []networkingv1.NetworkPolicyEgressRule {
	var rules []networkingv1.NetworkPolicyEgressRule
	for _, a := range allow {
		if a.CIDR == nil && a.PodSelector == nil && a.NamespaceSelector == nil {
			continue // rejected by the API; an empty peer list would allow everything
		}
		peer := networkingv1.NetworkPolicyPeer{
			PodSelector:       a.PodSelector.DeepCopy(),
			NamespaceSelector: a.NamespaceSelector.DeepCopy(),
		}
		if a.CIDR != nil {
			peer = networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: *a.CIDR}}
		}
		rule := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{peer}}
		for _, p := range a.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			rule.Ports = append(rule.Ports, networkingv1.NetworkPolicyPort{
				Protocol: ptr.To(proto),
				Port:     ptr.To(intstr.FromInt32(p.Port)),
				EndPort:  copyPtr(p.EndPort),
			})
		}
		rules = append(rules, rule)
	}
	return rules
}

// copyPtr returns a pointer to a copy of *p, or nil.
func copyPtr(p *int32) *int32 {
	if p == nil {
		return nil
	}
	return ptr.To(*p)
}
