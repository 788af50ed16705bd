//go:build node

package node

import (
	"context"
	"net"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/netpol"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
	"github.com/corral-run/corral/test/netpolcheck"
)

// This node's bridge does not enforce NetworkPolicies, and no enforcing dataplane can be
// built here (docs/real-node.md), so the policies the controller stored are evaluated by
// cyclonus's matcher instead, with what the cluster really holds: the pods' addresses from
// the CNI, their labels, and the namespaces' labels as the API server keeps them.
var _ = Describe("The NetworkPolicies of running runner pods, evaluated by an independent engine", func() {
	It("allow the internet, cluster DNS and the pool's allow rules, and nothing else, in or out", func(ctx SpecContext) {
		ns := newNamespace(ctx, "netpol")
		gitNS := newNamespace(ctx, "netpol-git")
		labelNamespace(ctx, gitNS, map[string]string{"team": "git"})
		ghes := startPlainPod(ctx, gitNS, "ghes", map[string]string{"app": "ghes"})
		db := startPlainPod(ctx, gitNS, "db", map[string]string{"app": "db"})

		pool := createPool(ctx, ns, "fenced", gen.WithContainers(corralv1.ContainersNone), gen.WithMinIdle(1), gen.WithMaxRunners(1),
			gen.WithEnv("CORRAL_NODE_JOB", "sleep 600"), gen.WithAllowCIDR("10.20.0.0/24", 443),
			gen.WithAllowPods(map[string]string{"app": "ghes"}, map[string]string{"team": "git"}, 443))
		other := createPool(ctx, gitNS, "other", gen.WithContainers(corralv1.ContainersNone), gen.WithMinIdle(1), gen.WithMaxRunners(1),
			gen.WithEnv("CORRAL_NODE_JOB", "sleep 600"))
		runnerPod := runningPod(ctx, pool)
		otherRunner := runningPod(ctx, other)

		engine := storedPolicies(ctx)
		runnerEP := endpointOf(ctx, &runnerPod)
		kubeDNS := netpolcheck.Endpoint{IP: "10.244.0.53", Namespace: metav1.NamespaceSystem,
			NamespaceLabels: namespaceLabelsOf(ctx, metav1.NamespaceSystem), Labels: netpol.DefaultDNSPodSelector()}
		type probe struct {
			name    string
			to      netpolcheck.Endpoint
			port    int
			proto   corev1.Protocol
			allowed bool
		}
		tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
		probes := []probe{
			{"the metadata endpoint", netpolcheck.External("169.254.169.254"), 80, tcp, false},
			{"RFC 1918 10/8", netpolcheck.External("10.1.2.3"), 443, tcp, false},
			{"RFC 1918 172.16/12", netpolcheck.External("172.16.5.4"), 443, tcp, false},
			{"RFC 1918 192.168/16", netpolcheck.External("192.168.1.1"), 22, tcp, false},
			{"CGNAT", netpolcheck.External("100.64.0.1"), 443, tcp, false},
			{"link-local", netpolcheck.External("169.254.1.1"), 443, tcp, false},
			{"IPv6 ULA", netpolcheck.External("fd12:3456::1"), 443, tcp, false},
			{"IPv6 link-local", netpolcheck.External("fe80::1"), 443, tcp, false},
			{"kube-dns over UDP", kubeDNS, 53, udp, true},
			{"kube-dns over TCP", kubeDNS, 53, tcp, true},
			{"kube-dns on another port", kubeDNS, 8080, tcp, false},
			{"a public address", netpolcheck.External("1.1.1.1"), 443, tcp, true},
			{"a public IPv6 address", netpolcheck.External("2606:4700:4700::1111"), 443, tcp, true},
			{"the allow rule's CIDR on its port", netpolcheck.External("10.20.0.7"), 443, tcp, true},
			{"the allow rule's CIDR on another port", netpolcheck.External("10.20.0.7"), 80, tcp, false},
			{"the allowed pod (a real one) on its port", endpointOf(ctx, &ghes), 443, tcp, true},
			{"the allowed pod on another port", endpointOf(ctx, &ghes), 22, tcp, false},
			{"another pod of the allowed namespace", endpointOf(ctx, &db), 443, tcp, false},
			{"another pool's runner", endpointOf(ctx, &otherRunner), 443, tcp, false},
		}
		for _, addr := range nodeAddresses(ctx) {
			for _, port := range []int{22, 10250} {
				probes = append(probes, probe{"the node's own address " + addr, netpolcheck.External(addr), port, tcp, false})
			}
		}
		for _, p := range probes {
			allowed, why, err := engine.Allowed(runnerEP, p.to, p.port, p.proto)
			Expect(err).NotTo(HaveOccurred())
			Expect(allowed).To(Equal(p.allowed), "from the runner to %s (%s:%d/%s): allowed = %t, want %t\n%s",
				p.name, p.to.IP, p.port, p.proto, allowed, p.allowed, why)
		}

		By("letting nothing connect to a runner pod, from any pod or address")
		for _, from := range []netpolcheck.Endpoint{endpointOf(ctx, &ghes), endpointOf(ctx, &otherRunner), netpolcheck.External("1.1.1.1"), netpolcheck.External(gateway)} {
			for _, port := range []int{22, 80, 443, 8080} {
				allowed, why, err := engine.Allowed(from, runnerEP, port, tcp)
				Expect(err).NotTo(HaveOccurred())
				Expect(allowed).To(BeFalse(), "%s may connect to the runner pod on %d:\n%s", from.IP, port, why)
			}
		}
	})
})

// runningPod waits until the pool has a running runner pod with an address, and returns it.
func runningPod(ctx context.Context, pool *corralv1.RunnerPool) corev1.Pod {
	var pod corev1.Pod
	Eventually(func(g Gomega) {
		pods := harness.Running(runnerPods(ctx, g, pool))
		g.Expect(pods).NotTo(BeEmpty(), "no running runner pod yet; the pool's conditions: %s", poolConditions(ctx, pool))
		g.Expect(pods[0].Status.PodIP).NotTo(BeEmpty())
		pod = pods[0]
	}).WithContext(ctx).Should(Succeed())
	return pod
}

// startPlainPod runs a pod that is no runner (the node's pause image) and returns it once it
// has an address; it is deleted when the spec ends.
func startPlainPod(ctx context.Context, ns, name string, labels map[string]string) corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "pause", Image: env.images["CORRAL_NODE_PAUSE_IMAGE"], ImagePullPolicy: corev1.PullNever,
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65535)),
					AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}}},
			TerminationGracePeriodSeconds: ptr.To(int64(0)),
		},
	}
	Expect(env.k8s.Create(ctx, pod)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, pod))).To(Succeed()) })
	Eventually(func(g Gomega) {
		g.Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning), "pod %s/%s: %s", ns, name, startFailure(ctx, ns, name))
		g.Expect(pod.Status.PodIP).NotTo(BeEmpty())
	}).WithContext(ctx).Should(Succeed())
	return *pod
}

func labelNamespace(ctx context.Context, name string, labels map[string]string) {
	ns := &corev1.Namespace{}
	Expect(env.k8s.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
	for k, v := range labels {
		metav1.SetMetaDataLabel(&ns.ObjectMeta, k, v)
	}
	Expect(env.k8s.Update(ctx, ns)).To(Succeed())
}

// namespaceLabelsOf are the namespace's labels as the API server holds them (with the
// kubernetes.io/metadata.name label it sets).
func namespaceLabelsOf(ctx context.Context, name string) map[string]string {
	ns := &corev1.Namespace{}
	Expect(env.k8s.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
	Expect(ns.Labels).To(HaveKeyWithValue(corev1.LabelMetadataName, name))
	return ns.Labels
}

// endpointOf is pod as the engine sees it: its address from the CNI, its labels and its
// namespace's labels, read again from the API server.
func endpointOf(ctx context.Context, pod *corev1.Pod) netpolcheck.Endpoint {
	Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
	Expect(pod.Status.PodIP).NotTo(BeEmpty(), "pod %s/%s has no address", pod.Namespace, pod.Name)
	return netpolcheck.Endpoint{IP: pod.Status.PodIP, Namespace: pod.Namespace, NamespaceLabels: namespaceLabelsOf(ctx, pod.Namespace), Labels: pod.Labels}
}

// storedPolicies is the engine for every NetworkPolicy the cluster holds, checked to include
// the ones the controller keeps for each pool.
func storedPolicies(ctx context.Context) *netpolcheck.Engine {
	list := &networkingv1.NetworkPolicyList{}
	Expect(env.k8s.List(ctx, list)).To(Succeed())
	policies := make([]*networkingv1.NetworkPolicy, 0, len(list.Items))
	for i := range list.Items {
		policies = append(policies, &list.Items[i])
	}
	Expect(len(policies)).To(BeNumerically(">=", 2*len(netpol.Names("x"))), "each pool's NetworkPolicies are stored")
	engine, err := netpolcheck.New(policies)
	Expect(err).NotTo(HaveOccurred())
	return engine
}

// nodeAddresses are the node's own addresses: its pod bridge's, every global address of the
// host's interfaces (the node is this host), and those the Node object reports.
func nodeAddresses(ctx context.Context) []string {
	seen := map[string]bool{gateway: true}
	out := []string{gateway}
	add := func(s string) {
		a, err := netip.ParseAddr(s)
		if err == nil && !a.IsLoopback() && !seen[a.String()] && (a.IsGlobalUnicast() || a.IsPrivate()) {
			seen[a.String()] = true
			out = append(out, a.String())
		}
	}
	ifaces, err := net.InterfaceAddrs()
	Expect(err).NotTo(HaveOccurred())
	for _, a := range ifaces {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			add(p.Addr().String())
		}
	}
	node := &corev1.Node{}
	Expect(env.k8s.Get(ctx, client.ObjectKey{Name: nodeName}, node)).To(Succeed())
	for _, a := range node.Status.Addresses {
		add(a.Address)
	}
	Expect(len(out)).To(BeNumerically(">", 1), "the host has an address besides the pod bridge's: %v", out)
	return out
}
