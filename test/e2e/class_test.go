//go:build e2e

package e2e

import (
	"fmt"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runnerclass"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

var _ = Describe("A RunnerPool of a RunnerClass", func() {
	It("runs with the class's credentials from the operator's namespace, under the shipped RBAC", func(ctx SpecContext) {
		By("the platform team: the App's Secret and CA in the operator's namespace, and a class")
		_, err := env.kubectlRun(ctx, "apply", "-n", harness.OperatorNamespace, "-f", env.fakeInfo.CredentialsManifest)
		Expect(err).NotTo(HaveOccurred())
		u, err := url.Parse(env.fakeInfo.PoolURL)
		Expect(err).NotTo(HaveOccurred())
		class := gen.RunnerClass(fmt.Sprintf("e2e-%d", time.Now().UnixNano()%100000), func(c *corralv1.RunnerClass) {
			c.Generation = 0
			c.Spec.GitHub.Server = "https://" + u.Host
			c.Spec.GitHub.Organizations = []string{env.fakeInfo.Org}
			c.Spec.GitHub.CredentialsSecretRef = corralv1.LocalSecretRef{Name: env.fakeInfo.SecretName}
			c.Spec.GitHub.CABundle = &corralv1.ConfigMapKeyRef{Name: env.fakeInfo.CAConfigMapName, Key: "ca.crt"}
			c.Spec.Sandbox.SeccompProfiles = []string{"Unconfined", "RuntimeDefault", "Localhost/corral/podman.json"}
			c.Spec.Sandbox.AppArmorProfiles = []string{"Unconfined", "RuntimeDefault", "Localhost/corral-podman"}
		})
		Expect(env.k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, class))).To(Succeed()) })
		Eventually(func(g Gomega) {
			c := &corralv1.RunnerClass{}
			g.Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(class), c)).To(Succeed())
			g.Expect(meta.FindStatusCondition(c.Status.Conditions, corralv1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
			g.Expect(c.Status.Credentials).To(HaveField("Kind", "App"))
		}).WithContext(ctx).Should(Succeed(), "the class is usable and says which installation it is")

		By("a tenant: a pool naming the class, with no credentials of its own")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-class-"}}
		Expect(env.k8s.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, ns))).To(Succeed()) })
		pool := gen.RunnerPool("classy", gen.WithNamespace(ns.Name), gen.WithURL(env.fakeInfo.PoolURL), gen.WithClass(class.Name),
			gen.WithMinIdle(2), gen.WithMaxRunners(3), gen.WithLabels("e2e"), func(p *corralv1.RunnerPool) { p.UID, p.Generation = "", 0 })
		Expect(env.k8s.Create(ctx, pool)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, pool))).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}))
			}).WithContext(ctx).Should(BeTrue(), "the pool drains and goes away")
		}, NodeTimeout(2*time.Minute))

		Eventually(func(g Gomega) {
			pods := harness.Running(runnerPods(ctx, g, pool))
			g.Expect(pods).To(HaveLen(2))
			expectRegistrationsMatchPods(ctx, g, pool)
			st := poolStatus(ctx, g, pool)
			g.Expect(findCondition(st.Conditions, corralv1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		}).WithContext(ctx).Should(Succeed())
		cm := &corev1.ConfigMap{}
		Expect(env.k8s.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: runnerclass.CABundleConfigMap(pool)}, cm)).To(Succeed(),
			"the class's CA is copied where the runners can mount it")
		Expect(cm.Data["ca.crt"]).NotTo(BeEmpty())
		secrets := &corev1.SecretList{}
		Expect(env.k8s.List(ctx, secrets, client.InNamespace(ns.Name))).To(Succeed())
		for _, s := range secrets.Items {
			Expect(s.Labels).To(HaveKeyWithValue(corralv1.LabelComponent, corralv1.ComponentJITConfig),
				"the tenant's namespace holds the runners' JIT Secrets and no credential")
		}
	})
})
