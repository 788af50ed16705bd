package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// minimalPool is the smallest pool a user can write: everything else is defaulted.
const minimalPool = `
apiVersion: corral.run/v1alpha1
kind: RunnerPool
metadata:
  name: minimal
spec:
  github:
    url: https://github.com/acme
    credentialsSecretRef: {name: github-app}
`

var _ = Describe("RunnerPool defaults", func() {
	It("applies the documented defaults to a minimal pool", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "defaults-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())

		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(minimalPool), &u.Object)).To(Succeed())
		u.SetNamespace(n.Name)
		Expect(k8s.Create(ctx, u)).To(Succeed())

		pool := &corralv1.RunnerPool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: n.Name, Name: "minimal"}, pool)).To(Succeed())
		s := pool.Spec
		Expect(s.RunnerGroup).To(Equal("Default"))
		Expect(s.MinIdle).To(Equal(int32(1)))
		Expect(s.MaxRunners).To(Equal(int32(10)))
		Expect(s.Template.Image).To(Equal("ghcr.io/corral-run/runner:2.330.0"))
		Expect(s.Template.ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
		Expect(s.Sandbox.Containers).To(Equal(corralv1.ContainersPodman))
		Expect(s.Sandbox.WorkVolume.SizeLimit).To(HaveValue(Equal(resource.MustParse("20Gi"))))
		Expect(s.Network.Egress).To(Equal(corralv1.EgressInternet))
		Expect(s.Network.DNS.Namespace).To(Equal("kube-system"))
	})
})
