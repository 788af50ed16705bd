package controller_test

import (
	"context"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("RunnerPool failures and cleanup", func() {
	It("removes orphaned registrations and replaces pods whose registration vanished", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("sweep", ns, "acme", gen.WithMinIdle(1))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		runAll(pool)
		pool = getPool(pool)
		prefix := github.RunnerNamePrefix(pool.Name, pool.UID)

		orphan := fake.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: prefix + "orph1", Ephemeral: true})
		// Not ours: another pool's prefix, and a name that only starts like ours.
		other := fake.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: "sweep-000000-abcde", Ephemeral: true})
		lookalike := fake.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: prefix + "xy-abcde", Ephemeral: true})
		stale := runnerPods(pool)[0]
		Expect(fake.RemoveRunner(stale.Name)).To(Succeed())

		eventually(func() bool { _, ok := fake.Runner(orphan.Name); return ok }).Should(BeFalse(), "orphan removed")
		eventually(func() []string { return podNames(runnerPods(pool)) }).Should(
			And(HaveLen(1), Not(ContainElement(stale.Name))), "stale pod replaced")
		for _, name := range []string{other.Name, lookalike.Name} {
			_, ok := fake.Runner(name)
			Expect(ok).To(BeTrue(), "%s is not this pool's runner and must be left alone", name)
		}
	})

	It("leaves the runners of a same-named pool in another namespace alone", func() {
		nsA, _ := newNamespace(nil)
		nsB, _ := newNamespace(nil)
		a := fakePool("twin", nsA, "shared", gen.WithMinIdle(2))
		b := fakePool("twin", nsB, "shared", gen.WithMinIdle(2))
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(a) }).Should(HaveLen(2))
		Eventually(func() []corev1.Pod { return runnerPods(b) }).Should(HaveLen(2))
		a, b = getPool(a), getPool(b)
		Expect(registrations(a)).To(HaveLen(2))
		Expect(registrations(b)).To(HaveLen(2))
		namesB := podNames(runnerPods(b))

		// Several sweeps of both pools later, nothing of b was touched.
		Consistently(func() []string {
			var names []string
			for _, r := range registrations(b) {
				names = append(names, r.Name)
			}
			return names
		}, "5s", "500ms").Should(ConsistOf(namesB))
		Expect(podNames(runnerPods(b))).To(ConsistOf(namesB))
	})

	It("cleans up a pod whose JIT Secret was never created (crash between pod and Secret)", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("crash", ns, "acme", gen.WithMinIdle(1))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		pool = getPool(pool)
		// Simulate the crash window: a second runner whose Secret never came.
		reg := fake.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"),
			Name: github.RunnerNamePrefix(pool.Name, pool.UID) + "crash", Ephemeral: true})
		pod := runner.BuildPod(pool, reg.Name, runner.JITSecretName(reg.Name))
		pod.Annotations[corralv1.AnnotationRunnerID] = itoa(reg.ID)
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		// The process that crashed is gone; the pool wants both runners, so only the
		// missing Secret, found by the new process, makes the pod go.
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MinIdle = 2 })
		stop()
		ctx, stop = context.WithCancel(context.Background())
		startManager(ctx)

		eventually(func() []string { return podNames(runnerPods(pool)) }).Should(And(HaveLen(2), Not(ContainElement(reg.Name))))
		eventually(func() bool { _, ok := fake.Runner(reg.Name); return ok }).Should(BeFalse(), "its registration is removed too")
	})

	It("backs off runners that exit without a job, and stops on exit code 7", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("failing", ns, "acme", gen.WithMinIdle(1))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		first := runnerPods(pool)[0]
		setPhase(&first, corev1.PodFailed, 1)

		Eventually(func() []string { return podNames(runnerPods(pool)) }).ShouldNot(ContainElement(first.Name))
		_, ok := fake.Runner(first.Name)
		Expect(ok).To(BeFalse(), "a runner that failed is deregistered")
		Eventually(poolCondition(pool, corralv1.ConditionScalingBlocked)).Should(HaveField("Reason", corralv1.ReasonRunnerFailures))
		jit := fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)
		Consistently(func() int { return fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT) }, "5s").
			Should(BeNumerically("<=", jit+1), "no creation loop while backing off")

		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		second := runnerPods(pool)[0]
		setPhase(&second, corev1.PodFailed, controller.ExitCodeVersionDeprecated)
		eventually(poolCondition(pool, corralv1.ConditionStalled)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", corralv1.ReasonRunnerVersionDeprecated),
			HaveField("Message", ContainSubstring("update spec.template.image"))))
		Consistently(func() []corev1.Pod { return runnerPods(pool) }, "2s").Should(BeEmpty(), "no runner from a deprecated image")
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.Template.Image = "ghcr.io/corral-run/runner:2.999.0" })
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1), "a new image resumes the pool")
	})

	It("stalls on bad credentials without a hot loop, and recovers when the Secret is fixed", func() {
		ns, app := newNamespace(nil)
		other := fake.AddApp(githubtest.AppOptions{PrivateKeyPEM: mustKey()})
		bad := other.SecretData()
		bad["app-id"] = []byte(itoa(app.ID)) // right App ID, wrong private key
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "github-app", Namespace: ns}}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		good := secret.Data
		secret.Data = bad
		Expect(k8s.Update(ctx, secret)).To(Succeed())

		pool := fakePool("badcreds", ns, "acme", gen.WithMinIdle(1))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(poolCondition(pool, corralv1.ConditionStalled)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", corralv1.ReasonCredentialsInvalid)))
		mints := fake.CallCountFor(app.Credential, githubtest.EndpointAccessToken)
		Consistently(func() int { return fake.CallCountFor(app.Credential, githubtest.EndpointAccessToken) }, "3s").
			Should(BeNumerically("<=", mints+2), "no hot retry with refused credentials: one attempt per stalled recheck (2 s here)")
		Expect(runnerPods(pool)).To(BeEmpty())

		secret.Data = good
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		eventually(poolCondition(pool, corralv1.ConditionStalled)).Should(HaveField("Status", metav1.ConditionFalse))
	})

	It("reports a Pod Security rejection and admits None-mode pools in a restricted namespace", func() {
		ns, app := newNamespace(map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		podman := fakePool("podman", ns, "acme", gen.WithMinIdle(1))
		none := fakePool("plain", ns, "acme", gen.WithMinIdle(1), gen.WithContainers(corralv1.ContainersNone))
		Expect(k8s.Create(ctx, podman)).To(Succeed())
		Expect(k8s.Create(ctx, none)).To(Succeed())

		eventually(func() []corev1.Pod { return runnerPods(none) }).Should(HaveLen(1))
		eventually(poolCondition(podman, corralv1.ConditionScalingBlocked)).Should(And(
			HaveField("Reason", corralv1.ReasonAdmissionRejected),
			HaveField("Message", ContainSubstring("violates PodSecurity"))))
		Expect(runnerPods(podman)).To(BeEmpty())
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(Equal(1),
			"the rejected pool spent no JIT call: admission is checked by a dry run first")
	})

	It("reports a ResourceQuota rejection and creates runners once the quota allows", func() {
		ns, app := newNamespace(nil)
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "no-pods", Namespace: ns},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}},
		}
		Expect(k8s.Create(ctx, quota)).To(Succeed())
		// envtest runs no quota controller: record the usage it would compute.
		quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}
		Expect(k8s.Status().Update(ctx, quota)).To(Succeed())
		pool := fakePool("quota", ns, "acme", gen.WithMinIdle(1))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(poolCondition(pool, corralv1.ConditionScalingBlocked)).Should(And(
			HaveField("Reason", corralv1.ReasonQuotaExceeded), HaveField("Message", ContainSubstring("exceeded quota"))))
		Expect(fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)).To(BeZero(), "no registration for a pod the quota refuses")

		Expect(k8s.Delete(ctx, quota)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1), "quota rejections retry with backoff")
	})

	It("removes the registrations a quota refuses after the template was admitted, and dry-runs again", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("admitted", ns, "acme", gen.WithMinIdle(1), gen.WithMaxRunners(6))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		// The dry run admitted the template: the next batch trusts it. Now the namespace is full.
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "full", Namespace: ns},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}},
		}
		Expect(k8s.Create(ctx, quota)).To(Succeed())
		quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}
		Expect(k8s.Status().Update(ctx, quota)).To(Succeed())
		before := fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT)
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MinIdle = 5 })

		eventually(poolCondition(pool, corralv1.ConditionScalingBlocked)).Should(And(
			HaveField("Reason", corralv1.ReasonQuotaExceeded), HaveField("Message", ContainSubstring("exceeded quota"))))
		spent := fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT) - before
		Expect(spent).To(BeNumerically("<=", 4), "at most the one batch that trusted the earlier dry run registers runners")
		Consistently(func() int { return fake.CallCountFor(app.Credential, githubtest.EndpointOrgJIT) - before }, "3s").
			Should(Equal(spent), "after the refusal every attempt dry-runs first and registers nothing")
		eventually(func() int {
			live := 0
			for _, r := range fake.Registrations() {
				if r.RemovedAt.IsZero() && strings.HasPrefix(r.Name, pool.Name) {
					live++
				}
			}
			return live
		}).Should(Equal(1), "every registration of a refused pod was removed: only the running runner's is left")
		Expect(runnerPods(pool)).To(HaveLen(1))

		Expect(k8s.Delete(ctx, quota)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(5), "the pool scales once the quota is gone")
	})

	It("waits exactly as long as GitHub's rate limit says", func() {
		ns, app := newNamespace(nil)
		pool := fakePool("limited", ns, "acme", gen.WithMinIdle(0), gen.WithMaxRunners(0))
		Expect(k8s.Create(ctx, pool)).To(Succeed()) // paused: the manager creates nothing
		Eventually(poolCondition(pool, corralv1.ConditionReady)).Should(HaveField("Reason", corralv1.ReasonPaused))
		// Drive a standalone reconciler by hand, so that its result can be inspected.
		r := &controller.RunnerPoolReconciler{Client: k8s, APIReader: k8s, Forges: controller.GitHubForges{Factory: factory}, Options: suiteOptions}
		fake.ExhaustPrimary(app.Credential, 42*time.Second)
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MaxRunners, p.Spec.MinIdle = 1, 1 })
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pool)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically("~", 42*time.Second, 3*time.Second))
		Expect(poolCondition(pool, corralv1.ConditionScalingBlocked)()).To(HaveField("Reason", corralv1.ReasonRateLimited))
		fake.ClearRateLimits()
	})

	It("ends a restart mid-scale-up with exactly the desired runners and no orphans", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("restart", ns, "acme", gen.WithMinIdle(0), gen.WithMaxRunners(20))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(poolCondition(pool, corralv1.ConditionReady)).Should(HaveField("Status", metav1.ConditionTrue))
		// Slow GitHub, then ask for 12 runners and restart the operator half-way.
		remove := fake.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgJIT, Latency: 150 * time.Millisecond})
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MinIdle = 12 })
		Eventually(func() int { return len(runnerPods(pool)) }).Should(BeNumerically(">=", 2))
		stop()
		ctx, stop = context.WithCancel(context.Background())
		remove()
		startManager(ctx)

		pool = getPool(pool)
		// Settled: 12 pods, each with its JIT Secret (pods the old manager left without one
		// are replaced), every registration with a pod and every pod with a registration.
		eventually(func(g Gomega) {
			pods := runnerPods(pool)
			g.Expect(pods).To(HaveLen(12))
			for _, p := range pods {
				g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(p.Name)}, &corev1.Secret{})).To(Succeed())
			}
			g.Expect(registrationNames(pool)).To(ConsistOf(podNames(pods)))
		}).Should(Succeed())
		Consistently(func() []corev1.Pod { return runnerPods(pool) }, "2s").Should(HaveLen(12))
	})
})

func registrationNames(pool *corralv1.RunnerPool) []string {
	var names []string
	for _, r := range registrations(pool) {
		names = append(names, r.Name)
	}
	return names
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mustKey() []byte {
	GinkgoHelper()
	key, err := githubtest.NewPrivateKeyPEM()
	Expect(err).NotTo(HaveOccurred())
	return key
}
