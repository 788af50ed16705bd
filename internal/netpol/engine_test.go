package netpol

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/corral-run/corral/test/netpolcheck"
)

// The probes are also put to cyclonus's matcher (test/netpolcheck), an evaluator written
// outside this project: where it and the evaluator above disagree, one of them misreads the
// NetworkPolicy API, and the built policies are not proven by either.

// engineEndpoint is e as netpolcheck sees it, with the test cluster's namespace labels.
func engineEndpoint(e endpoint) netpolcheck.Endpoint {
	if e.labels == nil {
		return netpolcheck.External(e.ip)
	}
	return netpolcheck.Endpoint{IP: e.ip, Namespace: e.namespace, NamespaceLabels: namespaceLabels(e.namespace), Labels: e.labels}
}

// engineAllows asks cyclonus whether src may connect to dst on port/proto under policies.
func engineAllows(t *testing.T, policies []*networkingv1.NetworkPolicy, src, dst endpoint, port int32, proto corev1.Protocol) (bool, string) {
	t.Helper()
	engine, err := netpolcheck.New(policies)
	if err != nil {
		t.Fatal(err)
	}
	allowed, why, err := engine.Allowed(engineEndpoint(src), engineEndpoint(dst), int(port), proto)
	if err != nil {
		t.Fatal(err)
	}
	return allowed, why
}

// TestEngineAgreesOnHandMadePolicies checks the adapter itself on policies whose answer is
// known, so a probe cannot pass because the engine was asked the wrong question.
func TestEngineAgreesOnHandMadePolicies(t *testing.T) {
	pod := runnerPod()
	denyAll := []*networkingv1.NetworkPolicy{{}}
	denyAll[0].Namespace = "ci"
	denyAll[0].Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}
	if ok, why := engineAllows(t, denyAll, pod, ip("1.1.1.1"), 443, tcp); ok {
		t.Errorf("an empty egress policy allows traffic:\n%s", why)
	}
	if ok, why := engineAllows(t, denyAll, otherSysPod, pod, 443, tcp); ok {
		t.Errorf("an empty ingress policy allows traffic in:\n%s", why)
	}
	if ok, _ := engineAllows(t, nil, pod, ip("10.0.0.1"), 443, tcp); !ok {
		t.Error("without policies the engine denies traffic")
	}
	if _, err := netpolcheck.New([]*networkingv1.NetworkPolicy{{}}); err == nil {
		t.Error("a policy without policyTypes is accepted")
	}
}
