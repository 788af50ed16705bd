// Package netpolcheck evaluates NetworkPolicies with an engine no one in this project wrote:
// the matcher of cyclonus (github.com/mattfenwick/cyclonus), the NetworkPolicy conformance
// tool upstream's policy-assistant grew from. Tests feed it the policies Corral builds (or
// the ones the controller stored), pod addresses and namespace labels, and ask whether a
// connection is allowed, so a misreading of the NetworkPolicy API shared by the builder and
// this project's own evaluator cannot hide.
package netpolcheck

import (
	"fmt"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Endpoint is one end of a connection: an address, and for a pod its namespace with that
// namespace's labels and its own labels. An endpoint without a Namespace is outside the
// cluster, and only ipBlock peers match it.
type Endpoint struct {
	IP              string
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
}

// External is an address outside the cluster.
func External(ip string) Endpoint { return Endpoint{IP: ip} }

func (e Endpoint) peer() *matcher.TrafficPeer {
	p := &matcher.TrafficPeer{IP: e.IP}
	if e.Namespace != "" {
		p.Internal = &matcher.InternalPeer{Namespace: e.Namespace, NamespaceLabels: e.NamespaceLabels, PodLabels: e.Labels}
	}
	return p
}

// Engine holds a set of policies, built once, to evaluate many connections against.
type Engine struct {
	policy *matcher.Policy
}

// New builds the engine for policies (as the cluster would hold them all at once). The
// engine panics on policies the API would refuse (e.g. a bad CIDR); New reports that as an
// error instead.
func New(policies []*networkingv1.NetworkPolicy) (e *Engine, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cyclonus refused the policies: %v", r)
		}
	}()
	return &Engine{policy: matcher.BuildNetworkPolicies(false, policies)}, nil
}

// Allowed reports whether a connection from src to dst on port/proto is allowed: by egress
// policy at src and ingress policy at dst. The explanation names the policies that decided.
func (e *Engine) Allowed(src, dst Endpoint, port int, proto corev1.Protocol) (allowed bool, explanation string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cyclonus could not evaluate %s -> %s:%d/%s: %v", src.IP, dst.IP, port, proto, r)
		}
	}()
	res := e.policy.IsTrafficAllowed(&matcher.Traffic{Source: src.peer(), Destination: dst.peer(), ResolvedPort: port, Protocol: proto})
	return res.IsAllowed(), res.Table(), nil
}
