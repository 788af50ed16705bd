package autoscale

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/test/testenv"
)

// receiverRBAC is config/webhook/rbac.yaml, the receiver's whole RBAC (the chart renders
// the same rules; test/install checks that), bound to user instead of the receiver's
// ServiceAccount, in namespace ns, its Secret Role naming secrets. Cluster-scoped objects
// get a name of their own per ns.
func receiverRBAC(ns, user string, secrets ...string) []client.Object {
	root, err := testenv.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	raw, err := os.ReadFile(filepath.Join(root, "config", "webhook", "rbac.yaml"))
	Expect(err).NotTo(HaveOccurred())
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	var out []client.Object
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		if len(u.Object) == 0 {
			continue
		}
		var obj client.Object
		switch u.GetKind() {
		case "ClusterRole":
			obj = &rbacv1.ClusterRole{}
		case "ClusterRoleBinding":
			obj = &rbacv1.ClusterRoleBinding{}
		case "Role":
			obj = &rbacv1.Role{}
		case "RoleBinding":
			obj = &rbacv1.RoleBinding{}
		default:
			Fail("config/webhook/rbac.yaml holds a " + u.GetKind())
		}
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj)).To(Succeed())
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			o.Name += "-" + ns
		case *rbacv1.ClusterRoleBinding:
			o.Name += "-" + ns
			o.RoleRef.Name += "-" + ns
			o.Subjects = subjects
		case *rbacv1.Role:
			o.Namespace = ns
			Expect(o.Rules).To(HaveLen(1))
			o.Rules[0].ResourceNames = secrets
		case *rbacv1.RoleBinding:
			o.Namespace = ns
			o.Subjects = subjects
		}
		out = append(out, obj)
	}
	return out
}

var _ = Describe("the webhook receiver's own RBAC", func() {
	It("serves every kind of delivery with only config/webhook's rules, and can read no other Secret nor any pod", func() {
		var user *rest.Config
		t := newTenantsAs(func(ns string) *rest.Config {
			name := "corral-webhook-" + ns
			for _, obj := range receiverRBAC(ns, name, "webhook", "globex-webhook", "acme-app", "globex-app") {
				Expect(k8s.Create(ctx, obj)).To(Succeed())
				if obj.GetNamespace() == "" {
					DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, obj))).To(Succeed()) })
				}
			}
			cfg, err := env.AddUser(name)
			Expect(err).NotTo(HaveOccurred())
			user = cfg
			c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
			Expect(err).NotTo(HaveOccurred())
			// RBAC takes effect once the API server's informers have the bindings.
			Eventually(func() error {
				return c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "webhook"}, &corev1.Secret{})
			}).Should(Succeed())
			return cfg
		})
		for _, d := range []struct {
			secret, repo, pool string
			id, inst           int64
		}{
			{acmeSecret, t.acmeOrg + "/app", "acme-org", 20, 100},     // through the class's App: its installation read
			{globexSecret, t.globexOrg + "/app", "globex-org", 21, 0}, // a class's own Secret
			{globalSecret, t.initechOrg + "/app", "initech", 22, 0},   // the global secret
		} {
			status, a := t.send(d.secret, "rbac", "queued", d.repo, d.id, "", d.inst)
			Expect(status).To(Equal(http.StatusAccepted), "%s: %+v", d.repo, a)
			Expect(t.recorded(d.id)).To(Equal(map[string]string{d.pool: "Queued/"}))
		}

		c, err := client.New(user, client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())
		createSecret(t.ns, "unlisted", map[string]string{"token": "x"})
		err = c.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "unlisted"}, &corev1.Secret{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a Secret not named in the Role: %v", err)
		Expect(apierrors.IsForbidden(c.List(ctx, &corev1.SecretList{}, client.InNamespace(t.ns)))).To(BeTrue(), "listing Secrets")
		Expect(apierrors.IsForbidden(c.List(ctx, &corev1.PodList{}))).To(BeTrue(), "listing pods")
	})
})
