package controller_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/netpol"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("NetworkPolicies and the nodes' addresses", func() {
	It("except every node's public address from Internet egress, following the nodes as they change", func() {
		node := createNode("public-node",
			corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.9"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "34.120.5.6"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "2600:1f18::5"},
			corev1.NodeAddress{Type: corev1.NodeHostName, Address: "public-node.example"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "not-an-address"})
		ns, _ := newNamespace(nil)
		internet := fakePool("internet", ns, "acme")
		closed := fakePool("closed", ns, "acme", gen.WithEgress(corralv1.EgressNone), gen.WithAllowCIDR("10.0.0.5/32", 3128))
		Expect(k8s.Create(ctx, internet)).To(Succeed())
		Expect(k8s.Create(ctx, closed)).To(Succeed())

		Eventually(func() []string { return egressExceptions(internet, 0) }).Should(ContainElement("34.120.5.6/32"))
		Expect(egressExceptions(internet, 1)).To(ContainElement("2600:1f18::5/128"))
		Expect(egressExceptions(internet, 0)).NotTo(ContainElement("10.0.0.9/32"), "private addresses are in the excepted ranges already")
		Eventually(func() []corev1.Pod { return runnerPods(internet) }).ShouldNot(BeEmpty(),
			"a node's unparsable address is skipped, not an error: the pool gets its runner")

		By("following a node whose public address changes")
		node.Status.Addresses[1].Address = "34.120.5.7"
		Expect(k8s.Status().Update(ctx, node)).To(Succeed())
		Eventually(func() []string { return egressExceptions(internet, 0) }).Should(And(
			ContainElement("34.120.5.7/32"), Not(ContainElement("34.120.5.6/32"))))

		By("dropping the exception once the node is gone")
		Expect(k8s.Delete(ctx, node)).To(Succeed())
		Eventually(func() []string { return egressExceptions(internet, 0) }).Should(Equal(netpol.NonPublicIPv4()))
		Expect(egressExceptions(internet, 1)).To(Equal(netpol.NonPublicIPv6()))
		Expect(egressPolicy(closed).Spec.Egress).To(HaveLen(1), "the None mode has its allow rule, no internet rule to except from")
		Expect(egressPolicy(closed).Spec.Egress[0].To[0].IPBlock.CIDR).To(Equal("10.0.0.5/32"))
	})
})

// createNode creates a Node reporting addresses (envtest runs no kubelet: the test writes
// its status); it is deleted when the spec ends.
func createNode(name string, addresses ...corev1.NodeAddress) *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	Expect(k8s.Create(ctx, node)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed()) })
	node.Status.Addresses = addresses
	Expect(k8s.Status().Update(ctx, node)).To(Succeed())
	return node
}

// egressPolicy is the pool's allow-egress NetworkPolicy as stored.
func egressPolicy(pool *corralv1.RunnerPool) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{}
	ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKey{Namespace: pool.Namespace, Name: netpol.Names(pool.Name)[2]}, p)).To(Succeed())
	return p
}

// egressExceptions are the exceptions of the Internet rule's ipBlock peer (0: IPv4, 1: IPv6),
// nil while the policy or the rule does not exist.
func egressExceptions(pool *corralv1.RunnerPool, peer int) []string {
	p := &networkingv1.NetworkPolicy{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: pool.Namespace, Name: netpol.Names(pool.Name)[2]}, p); err != nil ||
		len(p.Spec.Egress) == 0 || len(p.Spec.Egress[0].To) <= peer || p.Spec.Egress[0].To[peer].IPBlock == nil {
		return nil
	}
	return p.Spec.Egress[0].To[peer].IPBlock.Except
}
