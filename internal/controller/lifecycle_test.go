package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("RunnerPool lifecycle", func() {
	It("reaches minIdle hardened runners, each registered, fenced by NetworkPolicies first", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("warm", ns, "acme", gen.WithMinIdle(3), gen.WithLabels("linux", "podman"))
		Expect(k8s.Create(ctx, pool)).To(Succeed())

		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(3))
		Expect(networkPolicies(ns)).NotTo(BeEmpty(), "NetworkPolicies must exist before runner pods")
		Consistently(func() []corev1.Pod { return runnerPods(pool) }, "1s").Should(HaveLen(3), "no more than minIdle runners")

		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pool), pool)).To(Succeed())
		regs := registrations(pool)
		Expect(regs).To(HaveLen(3))
		for _, p := range runnerPods(pool) {
			Expect(runner.Violations(pool, &p)).To(BeEmpty(), "pod %s must pass the hardening policy", p.Name)
			Expect(p.Annotations).To(HaveKey(corralv1.AnnotationRunnerID))
			Expect(p.Finalizers).To(ContainElement(corralv1.FinalizerRunner))
			reg, ok := fake.Runner(p.Name)
			Expect(ok).To(BeTrue(), "runner %s registered in GitHub", p.Name)
			Expect(reg.Ephemeral).To(BeTrue())
			Expect(reg.Labels).To(ContainElements("linux", "podman"))
			secret := &corev1.Secret{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(p.Name)}, secret)).To(Succeed())
			Expect(metav1.IsControlledBy(secret, &p)).To(BeTrue(), "the JIT Secret is owned by its pod")
		}

		runAll(pool)
		Eventually(poolCondition(pool, corralv1.ConditionReady)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", corralv1.ReasonReconciled)))
		Eventually(func() int32 { return getPool(pool).Status.Idle }).Should(Equal(int32(3)))
		Expect(getPool(pool).Status.ObservedGeneration).To(Equal(getPool(pool).Generation))
	})

	It("replaces a runner that finished its job with one API call", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("churn", ns, "acme", gen.WithMinIdle(1))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		runAll(pool)
		first := runnerPods(pool)[0]
		Eventually(poolCondition(pool, corralv1.ConditionReady)).Should(HaveField("Status", metav1.ConditionTrue))

		jitBefore := fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)
		deleteBefore := fake.CallCountFor(app.Credential, githubtest.EndpointOrgDeleteRunner)
		Expect(fake.StartJob(first.Name)).To(Succeed())
		Expect(fake.FinishJob(first.Name)).To(Succeed()) // ephemeral: GitHub removes it
		setPhase(&first, corev1.PodSucceeded, 0)

		Eventually(func() []string { return podNames(runnerPods(pool)) }).Should(
			And(HaveLen(1), Not(ContainElement(first.Name))))
		// The JIT Secret goes with its pod by garbage collection (envtest runs no garbage
		// collector; the end-to-end suite sees it go): it is owned by exactly that pod.
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(first.Name)}, secret)).To(Succeed())
		Expect(metav1.IsControlledBy(secret, &first)).To(BeTrue(), "the finished runner's JIT Secret is collected with its pod")
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)-jitBefore).To(Equal(1), "one JIT call for the replacement")
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgDeleteRunner)-deleteBefore).To(Equal(0), "no delete for a runner GitHub removed itself")
		_, stillRegistered := fake.Runner(first.Name)
		Expect(stillRegistered).To(BeFalse())
	})

	It("scales down idle runners only, never a busy one", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("shrink", ns, "acme", gen.WithMinIdle(4))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(4))
		runAll(pool)
		pods := runnerPods(pool)
		busy := []string{pods[0].Name, pods[1].Name}
		for _, name := range busy {
			Expect(fake.StartJob(name)).To(Succeed())
		}

		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MinIdle = 0 })

		// The controller does not know the two are busy until GitHub refuses to remove them.
		Eventually(func() []string { return podNames(runnerPods(pool)) }).Should(ConsistOf(busy))
		Consistently(func() []string { return podNames(runnerPods(pool)) }, "1s").Should(ConsistOf(busy))
		for _, name := range busy {
			reg, ok := fake.Runner(name)
			Expect(ok).To(BeTrue())
			Expect(reg.Busy).To(BeTrue())
		}
		Eventually(func() int32 { return getPool(pool).Status.Busy }).Should(Equal(int32(2)))
		Expect(registrations(pool)).To(HaveLen(2), "idle runners deregistered")
	})

	It("drains on deletion: idle runners go at once, busy ones finish first", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("drain", ns, "acme", gen.WithMinIdle(3))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(3))
		runAll(pool)
		busy := runnerPods(pool)[0]
		Expect(fake.StartJob(busy.Name)).To(Succeed())

		Expect(k8s.Delete(ctx, pool)).To(Succeed())
		Eventually(func() []string { return podNames(runnerPods(pool)) }).Should(ConsistOf(busy.Name))
		Consistently(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}) }, "1s").
			Should(Succeed(), "the pool waits for its busy runner")

		Expect(fake.FinishJob(busy.Name)).To(Succeed())
		setPhase(&busy, corev1.PodSucceeded, 0)
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}) }).
			Should(MatchError(ContainSubstring("not found")))
		Expect(runnerPods(pool)).To(BeEmpty())
		Expect(registrations(pool)).To(BeEmpty())
	})

	It("deregisters a runner whose pod someone deleted", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("evicted", ns, "acme", gen.WithMinIdle(1))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		victim := runnerPods(pool)[0]
		Expect(k8s.Delete(ctx, &victim)).To(Succeed())
		Eventually(func() bool { _, ok := fake.Runner(victim.Name); return ok }).Should(BeFalse())
		Eventually(func() []string { return podNames(runnerPods(pool)) }).Should(
			And(HaveLen(1), Not(ContainElement(victim.Name))), "a replacement is created")
	})

	It("replaces idle runners when the template changes; busy ones keep the old template", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("template", ns, "acme", gen.WithMinIdle(2))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(2))
		runAll(pool)
		busy := runnerPods(pool)[0]
		Expect(fake.StartJob(busy.Name)).To(Succeed())

		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.Template.Image = "ghcr.io/corral-run/runner:2.331.0" })
		Eventually(func() []string {
			var images []string
			for _, p := range runnerPods(pool) {
				if p.Name != busy.Name {
					images = append(images, p.Spec.Containers[0].Image)
				}
			}
			return images
		}).Should(And(Not(BeEmpty()), HaveEach("ghcr.io/corral-run/runner:2.331.0")))
		Expect(podNames(runnerPods(pool))).To(ContainElement(busy.Name), "the busy runner finishes on the old template")
	})
})

func getPool(pool *corralv1.RunnerPool) *corralv1.RunnerPool {
	p := &corralv1.RunnerPool{}
	ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKeyFromObject(pool), p)).To(Succeed())
	return p
}

// updatePool changes the pool's spec, retrying on conflicts with the controller's writes.
func updatePool(pool *corralv1.RunnerPool, change func(*corralv1.RunnerPool)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
			return err
		}
		change(pool)
		return k8s.Update(ctx, pool)
	})).To(Succeed())
}

func podNames(pods []corev1.Pod) []string {
	names := make([]string, 0, len(pods))
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

// eventually is a longer Eventually for flows with backoff.
func eventually(f any) AsyncAssertion {
	return Eventually(f).WithTimeout(30 * time.Second)
}
