//go:build e2e

package e2e

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

var _ = Describe("Runner placement", func() {
	It("puts an arm64-only pool's runners on arm64 nodes only, and other pools' runners never there", func(ctx SpecContext) {
		ns := newNamespace(ctx, "arch")
		// As config/samples/arm64.yaml: a nodeSelector plus a toleration of the arm64 taint.
		arm := createPool(ctx, ns, "arm", gen.WithMinIdle(3), gen.WithMaxRunners(3),
			gen.WithNodeSelector(map[string]string{"kubernetes.io/arch": "arm64"}),
			gen.WithTolerations(corev1.Toleration{Key: "kubernetes.io/arch", Operator: corev1.TolerationOpEqual,
				Value: "arm64", Effect: corev1.TaintEffectNoSchedule}))
		plain := createPool(ctx, ns, "plain", gen.WithMinIdle(3), gen.WithMaxRunners(3))

		archOf := func(g Gomega, node string) string {
			n := &corev1.Node{}
			g.Expect(env.k8s.Get(ctx, client.ObjectKey{Name: node}, n)).To(Succeed())
			return n.Labels["kubernetes.io/arch"]
		}
		Eventually(func(g Gomega) {
			armPods, plainPods := harness.Running(runnerPods(ctx, g, arm)), harness.Running(runnerPods(ctx, g, plain))
			g.Expect(armPods).To(HaveLen(3))
			g.Expect(plainPods).To(HaveLen(3))
			for _, p := range armPods {
				g.Expect(archOf(g, p.Spec.NodeName)).To(Equal("arm64"), "arm pod %s on %s", p.Name, p.Spec.NodeName)
			}
			for _, p := range plainPods {
				g.Expect(archOf(g, p.Spec.NodeName)).To(Equal("amd64"), "plain pod %s on %s", p.Name, p.Spec.NodeName)
			}
			expectRegistrationsMatchPods(ctx, g, arm)
			expectRegistrationsMatchPods(ctx, g, plain)
		}).WithContext(ctx).Should(Succeed())
	})
})
