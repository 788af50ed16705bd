package controller_test

import (
	"os"
	"path/filepath"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/audit"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/testenv"
)

var _ = Describe("Audit with Tetragon", Ordered, func() {
	var ns string
	var pool *corralv1.RunnerPool
	policyOf := func() (*unstructured.Unstructured, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(audit.GroupVersionKind)
		return u, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: audit.Name(pool)}, u)
	}

	It("runs an audited pool without Tetragon, saying it is unaudited", func() {
		ns, _ = newNamespace(nil)
		pool = fakePool("audited", ns, "audit", gen.WithMinIdle(1), gen.WithAudit())
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(func() int { return len(runnerPods(pool)) }).Should(Equal(1), "the pool runs anyway")
		eventually(poolCondition(pool, corralv1.ConditionAudited)).Should(And(
			HaveField("Status", BeEquivalentTo("False")), HaveField("Reason", corralv1.ReasonTetragonMissing)))
	})

	It("applies the pool's policy once Tetragon's CRDs are installed, and Tetragon's schema accepts it", func() {
		crds, err := testenv.TetragonCRDs()
		Expect(err).NotTo(HaveOccurred())
		scheme := runtime.NewScheme()
		Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
		admin, err := client.New(env.Config, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		for _, crd := range crds {
			Expect(admin.Create(ctx, crd)).To(Succeed())
			eventually(func() bool {
				got := &apiextensionsv1.CustomResourceDefinition{}
				Expect(admin.Get(ctx, client.ObjectKeyFromObject(crd), got)).To(Succeed())
				for _, c := range got.Status.Conditions {
					if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
						return true
					}
				}
				return false
			}).Should(BeTrue())
		}
		eventually(poolCondition(pool, corralv1.ConditionAudited)).Should(And(
			HaveField("Status", BeEquivalentTo("True")), HaveField("Reason", corralv1.ReasonPolicyApplied)))
		p, err := policyOf()
		Expect(err).NotTo(HaveOccurred())
		Expect(p.GetOwnerReferences()).To(ContainElement(And(HaveField("UID", pool.UID), HaveField("Controller", HaveValue(BeTrue())))))
		want := audit.Build(pool)
		Expect(within(want.Object["spec"], p.Object["spec"])).To(BeTrue(),
			"stored as built, Tetragon's defaults aside: the schema pruned nothing away (-built +stored):\n%s", cmp.Diff(want.Object["spec"], p.Object["spec"]))

		By("every golden policy accepted by Tetragon's schema; a broken one refused (the schema is enforced)")
		files, err := filepath.Glob(filepath.Join("..", "audit", "testdata", "*.golden.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		for _, f := range files {
			u := goldenPolicy(f, ns)
			Expect(k8s.Create(ctx, u, client.DryRunAll)).To(Succeed(), f)
		}
		broken := goldenPolicy(files[0], ns)
		kprobes := broken.Object["spec"].(map[string]any)["kprobes"].([]any)
		kprobes[0].(map[string]any)["args"].([]any)[0].(map[string]any)["type"] = "socket-ish"
		err = k8s.Create(ctx, broken, client.DryRunAll)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "an unknown argument type must be refused: %v", err)
	})

	It("puts back a policy someone deleted or narrowed (a tenant must not switch its audit off)", func() {
		p, err := policyOf()
		Expect(err).NotTo(HaveOccurred())
		Expect(unstructured.SetNestedStringMap(p.Object, map[string]string{"nothing": "matches"}, "spec", "podSelector", "matchLabels")).To(Succeed())
		Expect(k8s.Update(ctx, p)).To(Succeed())
		eventually(func() map[string]string {
			p, err := policyOf()
			Expect(err).NotTo(HaveOccurred())
			sel, _, _ := unstructured.NestedStringMap(p.Object, "spec", "podSelector", "matchLabels")
			return sel
		}).Should(Equal(map[string]string{corralv1.LabelPool: pool.Name, corralv1.LabelComponent: corralv1.ComponentRunner}),
			"the narrowed selector restored, nothing of the edit left")
		Expect(k8s.Delete(ctx, p)).To(Succeed())
		eventually(func() error { _, err := policyOf(); return err }).Should(Succeed(), "the deleted policy is back")
	})

	It("follows the pool's writePaths", func() {
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.Audit.WritePaths = []string{"/etc/"} })
		eventually(func() int {
			p, err := policyOf()
			Expect(err).NotTo(HaveOccurred())
			return len(p.Object["spec"].(map[string]any)["kprobes"].([]any))
		}).Should(Equal(6), "the write probe added")
	})

	It("removes the policy when audit is turned off", func() {
		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.Audit = corralv1.AuditSpec{} })
		eventually(func() bool { _, err := policyOf(); return apierrors.IsNotFound(err) }).Should(BeTrue())
		eventually(poolCondition(pool, corralv1.ConditionAudited)).Should(BeNil())
	})
})

// goldenPolicy reads a golden policy file, placed in ns.
func goldenPolicy(path, ns string) *unstructured.Unstructured {
	GinkgoHelper()
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal(raw, &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	return u
}

// within reports whether every value of want is in got (got may hold more: defaults).
func within(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !within(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !within(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return cmp.Equal(want, got)
}
