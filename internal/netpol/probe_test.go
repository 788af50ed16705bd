package netpol

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

// A small NetworkPolicy evaluator, written from the API's documented semantics, so the
// built policies are tested by what they allow rather than by how they look.

// endpoint is a network endpoint: an address, and for pods their namespace and labels.
type endpoint struct {
	ip        string
	namespace string            // "" for addresses outside the cluster
	labels    map[string]string // nil for addresses outside the cluster
}

// namespaceLabels are the labels of the test cluster's namespaces; every namespace also
// carries kubernetes.io/metadata.name, as the API server sets it.
func namespaceLabels(ns string) labels.Set {
	extra := map[string]map[string]string{"git": {"team": "git"}}
	set := labels.Set{corev1.LabelMetadataName: ns}
	for k, v := range extra[ns] {
		set[k] = v
	}
	return set
}

// selects reports whether a label selector matches set (nil selector: everything).
func selects(t *testing.T, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("invalid selector %v: %v", sel, err)
	}
	return s.Matches(set)
}

// peerMatches reports whether peer (of a policy in namespace policyNS) matches dst.
func peerMatches(t *testing.T, peer networkingv1.NetworkPolicyPeer, policyNS string, dst endpoint) bool {
	if b := peer.IPBlock; b != nil {
		// A dual-stack socket sends to an IPv4-mapped address (::ffff:a.b.c.d) as IPv4, so
		// the dataplane matches a.b.c.d against the IPv4 block.
		addr := netip.MustParseAddr(dst.ip).Unmap()
		if !netip.MustParsePrefix(b.CIDR).Contains(addr) {
			return false
		}
		for _, e := range b.Except {
			if netip.MustParsePrefix(e).Contains(addr) {
				return false
			}
		}
		return true
	}
	if dst.labels == nil {
		return false // selectors match pods only
	}
	if peer.NamespaceSelector == nil {
		if dst.namespace != policyNS {
			return false
		}
	} else if !selects(t, peer.NamespaceSelector, namespaceLabels(dst.namespace)) {
		return false
	}
	return selects(t, peer.PodSelector, dst.labels)
}

// portMatches reports whether a rule's ports admit port/proto (no ports: all).
func portMatches(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		lo, hi := int32(p.Port.IntValue()), int32(p.Port.IntValue())
		if p.EndPort != nil {
			hi = *p.EndPort
		}
		if port >= lo && port <= hi {
			return true
		}
	}
	return false
}

// selecting returns the policies that select src for the given policy type.
func selecting(t *testing.T, policies []*networkingv1.NetworkPolicy, src endpoint, typ networkingv1.PolicyType) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, p := range policies {
		if p.Namespace == src.namespace && selects(t, &p.Spec.PodSelector, src.labels) {
			for _, pt := range p.Spec.PolicyTypes {
				if pt == typ {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// egressAllowed reports whether src may open a connection to dst on port/proto.
func egressAllowed(t *testing.T, policies []*networkingv1.NetworkPolicy, src, dst endpoint, port int32, proto corev1.Protocol) bool {
	t.Helper()
	sel := selecting(t, policies, src, networkingv1.PolicyTypeEgress)
	if len(sel) == 0 {
		return true // not isolated for egress
	}
	for _, p := range sel {
		for _, r := range p.Spec.Egress {
			peerOK := len(r.To) == 0
			for _, peer := range r.To {
				peerOK = peerOK || peerMatches(t, peer, p.Namespace, dst)
			}
			if peerOK && portMatches(r.Ports, port, proto) {
				return true
			}
		}
	}
	return false
}

// ingressAllowed reports whether anything may connect to dst on port/proto (any source).
func ingressAllowed(t *testing.T, policies []*networkingv1.NetworkPolicy, dst endpoint, port int32, proto corev1.Protocol) bool {
	t.Helper()
	sel := selecting(t, policies, dst, networkingv1.PolicyTypeIngress)
	if len(sel) == 0 {
		return true
	}
	for _, p := range sel {
		for _, r := range p.Spec.Ingress {
			if portMatches(r.Ports, port, proto) {
				return true
			}
		}
	}
	return false
}

// probe is one connection attempt from a runner pod and whether policy must allow it.
type probe struct {
	name    string
	to      endpoint
	port    int32
	proto   corev1.Protocol
	allowed bool
}

var (
	tcp = corev1.ProtocolTCP
	udp = corev1.ProtocolUDP
)

// Destinations of the test cluster.
var (
	dnsPod      = endpoint{ip: "10.244.1.10", namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}}
	otherSysPod = endpoint{ip: "10.244.1.11", namespace: "kube-system", labels: map[string]string{"k8s-app": "metrics-server"}}
	fakeDNSPod  = endpoint{ip: "10.244.2.10", namespace: "evil", labels: map[string]string{"k8s-app": "kube-dns"}}
	ghesPod     = endpoint{ip: "10.244.3.10", namespace: "git", labels: map[string]string{"app": "ghes"}}
	gitDBPod    = endpoint{ip: "10.244.3.11", namespace: "git", labels: map[string]string{"app": "db"}}
	ghesInPool  = endpoint{ip: "10.244.4.10", namespace: "ci", labels: map[string]string{"app": "ghes"}}
	proxyInPool = endpoint{ip: "10.244.4.11", namespace: "ci", labels: map[string]string{"app": "proxy"}}
	proxyOther  = endpoint{ip: "10.244.5.11", namespace: "other", labels: map[string]string{"app": "proxy"}}
)

// ip is an address outside the cluster.
func ip(addr string) endpoint { return endpoint{ip: addr} }

// runnerPod is a runner pod of pool "builders" in namespace "ci".
func runnerPod() endpoint {
	return endpoint{ip: "10.244.9.9", namespace: "ci", labels: map[string]string{
		corralv1.LabelPool: "builders", corralv1.LabelRunner: "builders-abc-12345",
		corralv1.LabelComponent: corralv1.ComponentRunner, corralv1.LabelManagedBy: corralv1.ManagedByValue,
	}}
}

// commonDenied are the probes no mode but Unrestricted allows: an address in every range
// the Internet mode excepts (TestEveryExceptionIsProbed), and cluster pods without a rule.
func commonDenied() []probe {
	return []probe{
		{"metadata endpoint", ip("169.254.169.254"), 80, tcp, false},
		{"RFC 1918 10/8", ip("10.1.2.3"), 443, tcp, false},
		{"RFC 1918 172.16/12", ip("172.16.5.4"), 443, tcp, false},
		{"RFC 1918 192.168/16", ip("192.168.1.1"), 22, tcp, false},
		{"Alibaba metadata (CGNAT)", ip("100.100.100.200"), 80, tcp, false},
		{"NodeLocal DNSCache when not configured", ip("169.254.20.10"), 53, udp, false},
		{"IPv6 AWS metadata", ip("fd00:ec2::254"), 80, tcp, false},
		{"IPv6 ULA", ip("fd12:3456::1"), 443, tcp, false},
		{"IPv6 link-local", ip("fe80::1"), 443, tcp, false},
		{"metadata through NAT64", ip("64:ff9b::a9fe:a9fe"), 80, tcp, false},
		{"10/8 through NAT64", ip("64:ff9b::a01:203"), 443, tcp, false},
		{"local-use NAT64", ip("64:ff9b:1::a01:203"), 443, tcp, false},
		{"this network 0/8 (reaches the host on Linux)", ip("0.0.0.1"), 80, tcp, false},
		{"benchmarking 198.18/15 (lab and appliance networks)", ip("198.19.0.5"), 443, tcp, false},
		{"reserved 240/4", ip("250.1.2.3"), 443, tcp, false},
		{"broadcast", ip("255.255.255.255"), 67, udp, false},
		{"Azure WireServer", ip("168.63.129.16"), 80, tcp, false},
		{"Azure WireServer through NAT64", ip("64:ff9b::a83f:8110"), 80, tcp, false},
		{"198.18/15 through NAT64", ip("64:ff9b::c613:5"), 443, tcp, false},
		{"PCP anycast (the network's NAT)", ip("192.0.0.9"), 5351, udp, false},
		{"documentation TEST-NET-1", ip("192.0.2.10"), 443, tcp, false},
		{"documentation TEST-NET-2", ip("198.51.100.7"), 443, tcp, false},
		{"documentation TEST-NET-3", ip("203.0.113.9"), 443, tcp, false},
		{"multicast SSDP", ip("239.255.255.250"), 1900, udp, false},
		{"multicast mDNS", ip("224.0.0.251"), 5353, udp, false},
		{"PCP anycast through NAT64", ip("64:ff9b::c000:9"), 5351, udp, false},
		{"TEST-NET-1 through NAT64", ip("64:ff9b::c000:20a"), 443, tcp, false},
		{"TEST-NET-2 through NAT64", ip("64:ff9b::c633:6407"), 443, tcp, false},
		{"TEST-NET-3 through NAT64", ip("64:ff9b::cb00:7109"), 443, tcp, false},
		{"multicast through NAT64", ip("64:ff9b::efff:fffa"), 1900, udp, false},
		{"0/8 through NAT64", ip("64:ff9b::1"), 80, tcp, false},
		{"172.16/12 through NAT64", ip("64:ff9b::ac10:504"), 443, tcp, false},
		{"192.168/16 through NAT64", ip("64:ff9b::c0a8:101"), 443, tcp, false},
		{"CGNAT through NAT64", ip("64:ff9b::6464:64c8"), 80, tcp, false},
		{"240/4 through NAT64", ip("64:ff9b::fa01:203"), 443, tcp, false},
		{"IPv4-mapped 10/8 (sent as IPv4)", ip("::ffff:10.1.2.3"), 443, tcp, false},
		{"IPv4-mapped metadata endpoint (sent as IPv4)", ip("::ffff:169.254.169.254"), 80, tcp, false},
		{"IPv6 deprecated site-local", ip("fec0::1"), 443, tcp, false},
		{"IPv6 multicast all-nodes", ip("ff02::1"), 443, udp, false},
		{"IPv6 multicast mDNS", ip("ff02::fb"), 5353, udp, false},
		{"IPv6 discard-only", ip("100::1"), 443, tcp, false},
		{"IPv6 dummy prefix", ip("100:0:0:1::1"), 443, tcp, false},
		{"IPv6 Teredo", ip("2001:0:4136:e378::1"), 443, tcp, false},
		{"IPv6 benchmarking", ip("2001:2::5"), 443, tcp, false},
		{"IPv6 PCP anycast", ip("2001:1::1"), 5351, udp, false},
		{"IPv6 documentation 2001:db8::/32", ip("2001:db8::1"), 443, tcp, false},
		{"IPv6 documentation 3fff::/20", ip("3fff:fff::1"), 443, tcp, false},
		{"6to4 of 10.0.0.1", ip("2002:a00:1::1"), 443, tcp, false},
		{"SRv6 segment identifier", ip("5f00:1::1"), 443, tcp, false},
		{"cluster pod without an allow rule", otherSysPod, 443, tcp, false},
		{"DNS label outside the DNS namespace", fakeDNSPod, 53, udp, false},
		{"another kube-system pod on the DNS port", otherSysPod, 53, udp, false},
		{"cluster DNS on another port", dnsPod, 80, tcp, false},
		{"cluster DNS on 5353", dnsPod, 5353, udp, false},
	}
}

func TestProbes(t *testing.T) {
	dnsAllowed := []probe{
		{"cluster DNS over UDP", dnsPod, 53, udp, true},
		{"cluster DNS over TCP", dnsPod, 53, tcp, true},
	}
	tests := []struct {
		name   string
		pool   *corralv1.RunnerPool
		probes []probe
	}{{
		name: "Internet",
		pool: gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithAllowCIDR("10.20.0.0/24", 443)),
		probes: concat(commonDenied(), dnsAllowed, []probe{
			{"public HTTPS", ip("1.1.1.1"), 443, tcp, true},
			{"public HTTP", ip("140.82.112.3"), 80, tcp, true},
			{"public resolver", ip("8.8.8.8"), 53, udp, true},
			{"public IPv6", ip("2606:4700:4700::1111"), 443, tcp, true},
			{"public IPv4 through NAT64", ip("64:ff9b::101:101"), 443, tcp, true},
			{"next to Azure WireServer", ip("168.63.129.17"), 443, tcp, true},
			{"next to 198.18/15", ip("198.20.0.1"), 443, tcp, true},
			{"next to 192.0.0.0/24 and TEST-NET-1", ip("192.0.1.1"), 443, tcp, true},
			{"next to TEST-NET-2", ip("198.51.101.1"), 443, tcp, true},
			{"next to TEST-NET-3", ip("203.0.112.1"), 443, tcp, true},
			{"just below multicast", ip("223.255.255.1"), 443, tcp, true},
			{"public IPv4-mapped (sent as IPv4)", ip("::ffff:1.1.1.1"), 443, tcp, true},
			{"public IPv6 next to 2001::/23", ip("2001:200::1"), 443, tcp, true},
			{"public IPv6 next to 2001:db8::/32", ip("2001:db9::1"), 443, tcp, true},
			{"public IPv6 next to 6to4", ip("2003::1"), 443, tcp, true},
			{"public IPv6 resolver", ip("2001:4860:4860::8888"), 53, udp, true},
			{"allow rule CIDR on its port", ip("10.20.0.7"), 443, tcp, true},
			{"allow rule CIDR on another port", ip("10.20.0.7"), 80, tcp, false},
			{"allow rule CIDR over UDP", ip("10.20.0.7"), 443, udp, false},
			{"next to the allow rule CIDR", ip("10.20.1.7"), 443, tcp, false},
		}),
	}, {
		name: "None through a proxy and an in-cluster GHES",
		pool: gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithEgress(corralv1.EgressNone),
			gen.WithAllowCIDR("10.0.0.5/32", 3128),
			gen.WithAllowPods(map[string]string{"app": "ghes"}, map[string]string{"team": "git"}, 443)),
		probes: concat(commonDenied(), dnsAllowed, []probe{
			{"public HTTPS", ip("1.1.1.1"), 443, tcp, false},
			{"public resolver", ip("8.8.8.8"), 53, udp, false},
			{"public IPv6", ip("2606:4700:4700::1111"), 443, tcp, false},
			{"proxy", ip("10.0.0.5"), 3128, tcp, true},
			{"proxy host on another port", ip("10.0.0.5"), 80, tcp, false},
			{"GHES pod", ghesPod, 443, tcp, true},
			{"GHES pod over SSH", ghesPod, 22, tcp, false},
			{"another pod in the GHES namespace", gitDBPod, 443, tcp, false},
			{"a GHES-labelled pod in an unlabelled namespace", ghesInPool, 443, tcp, false},
		}),
	}, {
		name: "Unrestricted",
		pool: gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithEgress(corralv1.EgressUnrestricted)),
		probes: concat(dnsAllowed, []probe{
			{"metadata endpoint", ip("169.254.169.254"), 80, tcp, true},
			{"private address", ip("10.1.2.3"), 443, tcp, true},
			{"cluster pod", otherSysPod, 443, tcp, true},
			{"IPv6 ULA", ip("fd12:3456::1"), 443, tcp, true},
			{"public HTTPS", ip("1.1.1.1"), 443, tcp, true},
		}),
	}, {
		name: "custom DNS (OpenShift port, NodeLocal DNSCache)",
		pool: gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithEgress(corralv1.EgressNone), gen.WithAllowCIDR("10.0.0.5/32", 3128),
			gen.WithDNS(corralv1.DNSSpec{Namespace: "openshift-dns", PodSelector: map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"},
				CIDR: ptr.To("169.254.20.10/32"), Ports: []int32{5353}})),
		probes: []probe{
			{"OpenShift DNS over UDP", endpoint{ip: "10.128.0.5", namespace: "openshift-dns", labels: map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"}}, 5353, udp, true},
			{"OpenShift DNS over TCP", endpoint{ip: "10.128.0.5", namespace: "openshift-dns", labels: map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"}}, 5353, tcp, true},
			{"OpenShift DNS on 53", endpoint{ip: "10.128.0.5", namespace: "openshift-dns", labels: map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"}}, 53, udp, false},
			{"NodeLocal DNSCache", ip("169.254.20.10"), 5353, udp, true},
			{"NodeLocal DNSCache on 53", ip("169.254.20.10"), 53, udp, false},
			{"kube-dns no longer", dnsPod, 53, udp, false},
			{"metadata endpoint on the DNS port", ip("169.254.169.254"), 5353, udp, false},
		},
	}, {
		name: "pod selector in the pool's namespace, port range",
		pool: gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithEgress(corralv1.EgressNone),
			gen.WithAllowPods(map[string]string{"app": "proxy"}, nil, 3128),
			gen.WithAllowRule(corralv1.AllowRule{CIDR: ptr.To("10.30.0.0/16"), Ports: []corralv1.PortRule{{Port: 8000, EndPort: ptr.To(int32(8100))}}})),
		probes: concat(dnsAllowed, []probe{
			{"proxy pod in the pool's namespace", proxyInPool, 3128, tcp, true},
			{"proxy pod elsewhere", proxyOther, 3128, tcp, false},
			{"range start", ip("10.30.1.1"), 8000, tcp, true},
			{"range end", ip("10.30.1.1"), 8100, tcp, true},
			{"past the range", ip("10.30.1.1"), 8101, tcp, false},
			{"range over UDP", ip("10.30.1.1"), 8050, udp, false},
		}),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policies := Build(tt.pool)
			for _, p := range tt.probes {
				if got := egressAllowed(t, policies, runnerPod(), p.to, p.port, p.proto); got != p.allowed {
					t.Errorf("%s: %s:%d/%s allowed = %t, want %t", p.name, p.to.ip, p.port, p.proto, got, p.allowed)
				}
				if got, why := engineAllows(t, policies, runnerPod(), p.to, p.port, p.proto); got != p.allowed {
					t.Errorf("%s: cyclonus says %s:%d/%s allowed = %t, want %t:\n%s", p.name, p.to.ip, p.port, p.proto, got, p.allowed, why)
				}
			}
			for _, port := range []int32{22, 80, 443, 8080} {
				if ingressAllowed(t, policies, runnerPod(), port, tcp) {
					t.Errorf("ingress to a runner pod on %d is allowed, want none", port)
				}
				for _, from := range []endpoint{otherSysPod, ghesInPool, ip("1.1.1.1"), ip("10.0.0.1")} {
					if got, why := engineAllows(t, policies, from, runnerPod(), port, tcp); got {
						t.Errorf("cyclonus says %s may connect to a runner pod on %d:\n%s", from.ip, port, why)
					}
				}
			}
			// Other pods of the namespace are not this pool's business.
			other := endpoint{ip: "10.244.9.10", namespace: "ci", labels: map[string]string{corralv1.LabelPool: "builders", corralv1.LabelComponent: "something-else"}}
			if len(selecting(t, policies, other, networkingv1.PolicyTypeEgress)) > 0 {
				t.Error("the policies select pods that are not runners of the pool")
			}
			otherPool := runnerPod()
			otherPool.labels[corralv1.LabelPool] = "other"
			if len(selecting(t, policies, otherPool, networkingv1.PolicyTypeEgress)) > 0 {
				t.Error("the policies select another pool's runners")
			}
		})
	}
}

// TestEveryExceptionIsProbed: each range the Internet mode excepts holds an address that
// commonDenied probes, so a range added without a probe fails here.
func TestEveryExceptionIsProbed(t *testing.T) {
	for _, c := range append(NonPublicIPv4(), NonPublicIPv6()...) {
		prefix := netip.MustParsePrefix(c)
		probed := false
		for _, p := range commonDenied() {
			probed = probed || prefix.Contains(netip.MustParseAddr(p.to.ip))
		}
		if !probed {
			t.Errorf("no probe in commonDenied is an address in the exception %s", c)
		}
	}
}

// concat joins probe tables.
func concat(tables ...[]probe) []probe {
	var out []probe
	for _, t := range tables {
		out = append(out, t...)
	}
	return out
}
