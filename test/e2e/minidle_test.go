//go:build e2e

package e2e

import (
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/netpol"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

var _ = Describe("A RunnerPool on kwok nodes", func() {
	It("reaches minIdle Running runners, fenced by NetworkPolicies that existed before the first pod", func(ctx SpecContext) {
		ns := newNamespace(ctx, "minidle")
		rec := recordNamespace(ctx, ns) // started before the pool exists
		pool := createPool(ctx, ns, "warm", gen.WithMinIdle(3), gen.WithMaxRunners(5))

		By("running minIdle runner pods on the amd64 kwok nodes, each registered and online")
		Eventually(func(g Gomega) {
			pods := harness.Running(runnerPods(ctx, g, pool))
			g.Expect(pods).To(HaveLen(3))
			for _, p := range pods {
				g.Expect(p.Spec.NodeName).To(HavePrefix("kwok-amd64-"), "the arm64 node is tainted")
			}
			regs := registrations(ctx, g, pool)
			g.Expect(runnerNames(regs)).To(Equal(harness.PodNames(pods)))
			for _, r := range regs {
				g.Expect(r.Online).To(BeTrue(), "runner %s online", r.Name)
			}
			st := poolStatus(ctx, g, pool)
			g.Expect(st.Runners).To(BeEquivalentTo(3))
			g.Expect(st.Idle).To(BeEquivalentTo(3))
			g.Expect(findCondition(st.Conditions, corralv1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		}).WithContext(ctx).Should(Succeed())

		By("creating every NetworkPolicy before the first runner pod")
		want := []string{}
		for _, p := range netpol.Build(pool) {
			want = append(want, p.Name)
		}
		policies, pods := rec.added(kindNetworkPolicy), rec.added(kindPod)
		Expect(pods).NotTo(BeEmpty())
		var names []string
		for _, p := range policies {
			names = append(names, p.Name)
			Expect(p.RV).To(BeNumerically("<", pods[0].RV), "policy %s must be created before pod %s", p.Name, pods[0].Name)
		}
		Expect(names).To(ConsistOf(want))
		for _, p := range pods[1:] {
			Expect(p.RV).To(BeNumerically(">", pods[0].RV), "the first pod seen is the first created")
		}

		By("staying at minIdle: no churn, every registration still matches a pod")
		Consistently(func(g Gomega) {
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(3))
			expectRegistrationsMatchPods(ctx, g, pool)
		}).WithContext(ctx).Should(Succeed())
		Expect(rec.maxLivePods()).To(Equal(3), "never more than minIdle pods")
		rec.expectNoWatchErrors()
	})

	It("leaves JIT Secrets to the garbage collector when their pod disappears behind Corral's back", func(ctx SpecContext) {
		ns := newNamespace(ctx, "gc")
		pool := createPool(ctx, ns, "gc", gen.WithMinIdle(1), gen.WithMaxRunners(2))
		var pod corev1.Pod
		Eventually(func(g Gomega) {
			pods := harness.Running(runnerPods(ctx, g, pool))
			g.Expect(pods).To(HaveLen(1))
			pod = pods[0]
		}).WithContext(ctx).Should(Succeed())
		secret := &corev1.Secret{}
		Expect(env.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(pod.Name)}, secret)).To(Succeed())
		Expect(secret.OwnerReferences).To(ContainElement(And(HaveField("Kind", "Pod"), HaveField("UID", pod.UID))))

		By("freezing corral, then removing the runner's finalizer and deleting its pod")
		env.corral.Proc.Freeze()
		thawed := false
		DeferCleanup(func() {
			if !thawed {
				env.corral.Proc.Thaw()
			}
		})
		patch := client.MergeFrom(pod.DeepCopy())
		pod.Finalizers = slices.DeleteFunc(pod.Finalizers, func(f string) bool { return f == corralv1.FinalizerRunner })
		Expect(env.k8s.Patch(ctx, &pod, patch)).To(Succeed())
		Expect(env.k8s.Delete(ctx, &pod)).To(Succeed())

		By("the garbage collector of kube-controller-manager deleting the JIT Secret (corral is stopped)")
		Eventually(func() bool {
			return apierrors.IsNotFound(env.k8s.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{}))
		}).WithContext(ctx).Should(BeTrue())

		By("corral, resumed, removing the orphaned registration and replacing the runner")
		env.corral.Proc.Thaw()
		thawed = true
		Eventually(func(g Gomega) {
			pods := harness.Running(runnerPods(ctx, g, pool))
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].Name).NotTo(Equal(pod.Name))
			g.Expect(env.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(pods[0].Name)}, &corev1.Secret{})).To(Succeed())
			expectRegistrationsMatchPods(ctx, g, pool)
		}).WithContext(ctx).Should(Succeed())
	})
})

// findCondition returns the condition of type t, or nil.
func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
