package netpol

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

func TestBuildMetadata(t *testing.T) {
	pool := gen.RunnerPool("builders", gen.WithNamespace("ci"))
	policies := Build(pool)
	var names []string
	for _, p := range policies {
		names = append(names, p.Name)
		if p.Namespace != "ci" {
			t.Errorf("%s is in namespace %q, want ci", p.Name, p.Namespace)
		}
		wantLabels := map[string]string{
			corralv1.LabelPool:      "builders",
			corralv1.LabelComponent: corralv1.ComponentNetworkPolicy,
			corralv1.LabelManagedBy: corralv1.ManagedByValue,
		}
		if diff := cmp.Diff(wantLabels, p.Labels); diff != "" {
			t.Errorf("%s labels (-want +got):\n%s", p.Name, diff)
		}
		if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != pool.UID || p.OwnerReferences[0].Kind != "RunnerPool" ||
			p.OwnerReferences[0].Controller == nil || !*p.OwnerReferences[0].Controller {
			t.Errorf("%s owner references = %+v, want the pool as controller", p.Name, p.OwnerReferences)
		}
		wantSel := metav1.LabelSelector{MatchLabels: map[string]string{corralv1.LabelPool: "builders", corralv1.LabelComponent: corralv1.ComponentRunner}}
		if diff := cmp.Diff(wantSel, p.Spec.PodSelector); diff != "" {
			t.Errorf("%s pod selector (-want +got):\n%s", p.Name, diff)
		}
		if len(p.Spec.Ingress) > 0 {
			t.Errorf("%s has ingress rules; runner pods accept no connections", p.Name)
		}
	}
	if diff := cmp.Diff([]string{"builders-deny-all", "builders-allow-dns", "builders-allow-egress"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Names("builders"), names); diff != "" {
		t.Errorf("Names disagrees with Build (-Names +Build):\n%s", diff)
	}
	deny := policies[0]
	if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, deny.Spec.PolicyTypes); diff != "" {
		t.Errorf("deny-all policy types (-want +got):\n%s", diff)
	}
	if len(deny.Spec.Egress) > 0 {
		t.Error("deny-all must allow nothing")
	}
}

// TestBuildSameNamesEveryMode lets the controller update policies in place on a mode change.
func TestBuildSameNamesEveryMode(t *testing.T) {
	for _, mode := range []corralv1.EgressMode{corralv1.EgressInternet, corralv1.EgressNone, corralv1.EgressUnrestricted} {
		var names []string
		for _, p := range Build(gen.RunnerPool("p", gen.WithEgress(mode), gen.WithAllowCIDR("10.0.0.1/32", 3128))) {
			names = append(names, p.Name)
		}
		if diff := cmp.Diff(Names("p"), names); diff != "" {
			t.Errorf("%s: names (-want +got):\n%s", mode, diff)
		}
	}
}

func TestModeRules(t *testing.T) {
	if r := modeRules(corralv1.EgressNone, nil); len(r) != 0 {
		t.Errorf("None mode rules = %v, want none", r)
	}
	if r := modeRules(corralv1.EgressUnrestricted, nil); len(r) != 1 || len(r[0].To) != 0 || len(r[0].Ports) != 0 {
		t.Errorf("Unrestricted mode rules = %v, want one empty (allow-all) rule", r)
	}
	r := modeRules(corralv1.EgressInternet, nil)
	if len(r) != 1 || len(r[0].To) != 2 || len(r[0].Ports) != 0 {
		t.Fatalf("Internet mode rules = %v, want one rule with an IPv4 and an IPv6 block on all ports", r)
	}
	if b := r[0].To[0].IPBlock; b.CIDR != "0.0.0.0/0" || !cmp.Equal(b.Except, NonPublicIPv4()) {
		t.Errorf("IPv4 block = %+v", b)
	}
	if b := r[0].To[1].IPBlock; b.CIDR != "::/0" || !cmp.Equal(b.Except, NonPublicIPv6()) {
		t.Errorf("IPv6 block = %+v", b)
	}
	// An unset mode (an object the API server did not default) is Internet, never open.
	if !cmp.Equal(modeRules("", nil), r) {
		t.Error("an unset egress mode must mean Internet")
	}
}

func TestExceptionCIDRs(t *testing.T) {
	v4 := NonPublicIPv4()
	for _, want := range []string{"0.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
		"169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/4", "240.0.0.0/4", "168.63.129.16/32"} {
		if !contains(v4, want) {
			t.Errorf("IPv4 exceptions lack %s", want)
		}
	}
	for _, want := range []string{"fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "100::/64", "100:0:0:1::/64",
		"2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "64:ff9b:1::/48"} {
		if !contains(NonPublicIPv6(), want) {
			t.Errorf("IPv6 exceptions lack %s", want)
		}
	}
	for _, list := range [][]string{v4, NonPublicIPv6()} {
		for _, c := range list {
			p, err := netip.ParsePrefix(c)
			if err != nil || p.Masked() != p || p.String() != c {
				t.Errorf("%q is not a canonical CIDR (%v)", c, err)
			}
		}
	}
	// The API server refuses an exception outside its block's family, and an IPv4-mapped
	// one (::ffff:0:0/96 is not a subset of ::/0 to it): one such entry and no pool's
	// policy could be written.
	for _, c := range v4 {
		if !netip.MustParsePrefix(c).Addr().Is4() {
			t.Errorf("IPv4 exception %s is not IPv4", c)
		}
	}
	for _, c := range NonPublicIPv6() {
		if a := netip.MustParsePrefix(c).Addr(); !a.Is6() || a.Is4In6() {
			t.Errorf("IPv6 exception %s is not plain IPv6", c)
		}
	}
	// Every IPv4 exception is also excepted through the well-known NAT64 prefix, and the
	// NAT64 entries are exactly those.
	nat64 := netip.MustParsePrefix("64:ff9b::/96")
	var mapped []string
	for _, c := range NonPublicIPv6() {
		if p := netip.MustParsePrefix(c); nat64.Overlaps(p) && p.Bits() >= 96 {
			mapped = append(mapped, c)
		}
	}
	if len(mapped) != len(v4) {
		t.Fatalf("NAT64 exceptions %v, want one per IPv4 exception %v", mapped, v4)
	}
	for i, c := range v4 {
		p4 := netip.MustParsePrefix(c)
		a := nat64.Addr().As16()
		b := p4.Addr().As4()
		copy(a[12:], b[:])
		want := netip.PrefixFrom(netip.AddrFrom16(a), 96+p4.Bits()).String()
		if mapped[i] != want {
			t.Errorf("NAT64 form of %s = %s, want %s", c, mapped[i], want)
		}
	}
	// Fresh slices: changing one does not change the next.
	v4[0] = "0.0.0.0/0"
	if NonPublicIPv4()[0] != "0.0.0.0/8" {
		t.Error("NonPublicIPv4 must return a fresh slice")
	}
}

func TestDNSRule(t *testing.T) {
	pool := gen.RunnerPool("p")
	pool.Spec.Network.DNS = corralv1.DNSSpec{} // not defaulted by the API server
	r := Build(pool)[1].Spec.Egress
	if len(r) != 1 || len(r[0].To) != 1 {
		t.Fatalf("DNS rules = %+v, want one rule with one peer", r)
	}
	peer := r[0].To[0]
	if diff := cmp.Diff(map[string]string{"kubernetes.io/metadata.name": "kube-system"}, peer.NamespaceSelector.MatchLabels); diff != "" {
		t.Errorf("DNS namespace selector (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"k8s-app": "kube-dns"}, peer.PodSelector.MatchLabels); diff != "" {
		t.Errorf("DNS pod selector (-want +got):\n%s", diff)
	}
	var ports []string
	for _, p := range r[0].Ports {
		ports = append(ports, string(*p.Protocol)+"/"+p.Port.String())
	}
	if diff := cmp.Diff([]string{"UDP/53", "TCP/53"}, ports); diff != "" {
		t.Errorf("DNS ports (-want +got):\n%s", diff)
	}
}

func TestBuildIsPure(t *testing.T) {
	pool := gen.RunnerPool("p", gen.WithDNS(corralv1.DNSSpec{Namespace: "dns", PodSelector: map[string]string{"a": "b"}}),
		gen.WithAllowPods(map[string]string{"app": "x"}, map[string]string{"team": "y"}, 443))
	before := pool.DeepCopy()
	a, b := Build(pool), Build(pool)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two builds differ:\n%s", diff)
	}
	a[1].Spec.Egress[0].To[0].PodSelector.MatchLabels["a"] = "changed"
	a[2].Spec.Egress[1].To[0].PodSelector.MatchLabels["app"] = "changed"
	if diff := cmp.Diff(before, pool); diff != "" {
		t.Errorf("changing the policies changed the pool (-before +after):\n%s", diff)
	}
}

func TestAllowRuleWithoutDestinationIsDropped(t *testing.T) {
	pool := gen.RunnerPool("p", gen.WithEgress(corralv1.EgressNone), gen.WithAllowRule(corralv1.AllowRule{}))
	if r := Build(pool)[2].Spec.Egress; len(r) != 0 {
		t.Errorf("an allow rule without destination became %+v; it would allow everything", r)
	}
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestSelectsBuiltRunnerPods ties the policies to the pods the runner builder makes.
func TestSelectsBuiltRunnerPods(t *testing.T) {
	pool := gen.RunnerPool("builders", gen.WithNamespace("ci"))
	pod := runner.BuildPod(pool, "builders-abc123-x1y2z", runner.JITSecretName("builders-abc123-x1y2z"))
	for _, p := range Build(pool) {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			t.Fatalf("%s: invalid selector: %v", p.Name, err)
		}
		if p.Namespace != pod.Namespace || !sel.Matches(labels.Set(pod.Labels)) {
			t.Errorf("%s does not select the built runner pod (labels %v)", p.Name, pod.Labels)
		}
	}
}
