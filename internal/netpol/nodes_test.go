package netpol

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(s))
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestNodeExceptions(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []netip.Addr
		v4, v6 []string
	}{
		{"no nodes", nil, []string{}, []string{}},
		{"private addresses are excepted already", addrs("10.0.0.4", "192.168.1.2", "100.64.0.9", "fd00::2", "fe80::1", "192.0.2.2"), []string{}, []string{}},
		{"public addresses, sorted, once each", addrs("203.1.113.9", "34.120.5.6", "34.120.5.6", "2600:1f18::5", "2001:4860::1"),
			[]string{"34.120.5.6/32", "203.1.113.9/32"}, []string{"2001:4860::1/128", "2600:1f18::5/128"}},
		{"IPv4-mapped counts as IPv4", addrs("::ffff:34.1.2.3"), []string{"34.1.2.3/32"}, []string{}},
		{"loopback, unspecified and zoned addresses never", addrs("127.0.0.1", "::1", "0.0.0.0", "::", "2001:4860::1%eth0"), []string{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := NodeExceptions(tt.nodes)
			if !cmp.Equal(v4, tt.v4) || !cmp.Equal(v6, tt.v6) {
				t.Errorf("NodeExceptions = %q, %q; want %q, %q", v4, v6, tt.v4, tt.v6)
			}
		})
	}
}

// TestNodeAddressProbes: a node's public address is closed to every mode but Unrestricted
// (and an explicit allow rule, which is the admin's and tenant's way to reach, say, an
// ingress on the nodes), by both evaluators.
func TestNodeAddressProbes(t *testing.T) {
	nodes := addrs("34.120.5.6", "10.0.0.4", "2600:1f18::5")
	tests := []struct {
		pool   *corralv1.RunnerPool
		probes []probe
	}{
		{gen.RunnerPool("builders", gen.WithNamespace("ci")), []probe{
			{"a node's public IPv4 address", ip("34.120.5.6"), 10250, tcp, false},
			{"a node's public IPv6 address", ip("2600:1f18::5"), 22, tcp, false},
			{"a node's public address, IPv4-mapped", ip("::ffff:34.120.5.6"), 443, tcp, false},
			{"a node's private address", ip("10.0.0.4"), 10250, tcp, false},
			{"next to a node's address", ip("34.120.5.7"), 443, tcp, true},
		}},
		{gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithAllowCIDR("34.120.5.6/32", 443)), []probe{
			{"a node's address on the allow rule's port", ip("34.120.5.6"), 443, tcp, true},
			{"a node's address on another port", ip("34.120.5.6"), 10250, tcp, false},
		}},
		{gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithEgress(corralv1.EgressUnrestricted)), []probe{
			{"a node's address, Unrestricted", ip("34.120.5.6"), 10250, tcp, true},
		}},
	}
	for _, tt := range tests {
		policies := Build(tt.pool, nodes...)
		for _, p := range tt.probes {
			if got := egressAllowed(t, policies, runnerPod(), p.to, p.port, p.proto); got != p.allowed {
				t.Errorf("%s (%s mode): %s:%d allowed = %t, want %t", p.name, tt.pool.Spec.Network.Egress, p.to.ip, p.port, got, p.allowed)
			}
			if got, why := engineAllows(t, policies, runnerPod(), p.to, p.port, p.proto); got != p.allowed {
				t.Errorf("%s (%s mode): cyclonus says %s:%d allowed = %t, want %t:\n%s", p.name, tt.pool.Spec.Network.Egress, p.to.ip, p.port, got, p.allowed, why)
			}
		}
	}
}

// TestExceptsNodes: the modes whose rules except node addresses are those modeRules gives an
// internet rule to, the unset (default) mode included.
func TestExceptsNodes(t *testing.T) {
	for _, mode := range []corralv1.EgressMode{corralv1.EgressInternet, "", corralv1.EgressNone, corralv1.EgressUnrestricted} {
		rules := modeRules(mode, nil)
		internet := len(rules) == 1 && len(rules[0].To) == 2
		if got := ExceptsNodes(mode); got != internet {
			t.Errorf("ExceptsNodes(%q) = %t, but modeRules gives an internet rule: %t", mode, got, internet)
		}
	}
}
