package install

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/testenv"
)

// tenantRoles are the ClusterRoles config/tenant-rbac ships for tenants.
var tenantRoles = []string{"corral-runnerpool-editor", "corral-runnerpool-viewer", "corral-runnerclass-viewer"}

// tenantRoleObjects reads config/tenant-rbac's roles.
func tenantRoleObjects(t *testing.T) objects {
	t.Helper()
	var out objects
	for _, f := range []string{"runnerpool_editor_role.yaml", "runnerpool_viewer_role.yaml", "runnerclass_viewer_role.yaml"} {
		out = append(out, decodeObjects(t, readRepoFile(t, "config/tenant-rbac/"+f))...)
	}
	return out
}

// TestTenantRolesGrantNoClassWrites: no tenant role may write RunnerClasses or a pool's
// status, read Secrets or touch RBAC; the editor and viewer aggregate into the built-in
// roles.
func TestTenantRolesGrantNoClassWrites(t *testing.T) {
	objs := tenantRoleObjects(t)
	writes := []string{"create", "update", "patch", "delete", "deletecollection", "*"}
	for _, name := range tenantRoles {
		role := decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", name))
		for _, r := range role.Rules {
			if !slices.Equal(r.APIGroups, []string{"corral.run"}) {
				t.Errorf("%s grants on groups %v: tenant roles are about Corral's resources only", name, r.APIGroups)
			}
			for _, res := range r.Resources {
				if res == "runnerpools" && name == "corral-runnerpool-editor" {
					continue
				}
				for _, v := range r.Verbs {
					if slices.Contains(writes, v) {
						t.Errorf("%s may %s %s", name, v, res)
					}
				}
			}
		}
	}
	labels := map[string][]string{
		"corral-runnerpool-editor": {"rbac.authorization.k8s.io/aggregate-to-admin", "rbac.authorization.k8s.io/aggregate-to-edit"},
		"corral-runnerpool-viewer": {"rbac.authorization.k8s.io/aggregate-to-view"},
	}
	for name, keys := range labels {
		got := objs.mustGet(t, "ClusterRole", name).GetLabels()
		for _, k := range keys {
			if got[k] != "true" {
				t.Errorf("%s lacks the label %s=true", name, k)
			}
		}
	}
}

// TestChartTenantRoles: the chart's tenant roles are config/tenant-rbac's, labels
// included, and rbac.tenantRoles=false leaves them out.
func TestChartTenantRoles(t *testing.T) {
	want := tenantRoleObjects(t)
	chart := renderChart(t, "")
	for _, name := range tenantRoles {
		w, g := want.mustGet(t, "ClusterRole", name), chart.mustGet(t, "ClusterRole", name)
		if diff := cmp.Diff(decode[rbacv1.ClusterRole](t, w).Rules, decode[rbacv1.ClusterRole](t, g).Rules); diff != "" {
			t.Errorf("%s rules differ (-config/tenant-rbac +chart):\n%s", name, diff)
		}
		for k, v := range w.GetLabels() {
			if g.GetLabels()[k] != v {
				t.Errorf("%s: chart label %s=%q, config/tenant-rbac %q", name, k, g.GetLabels()[k], v)
			}
		}
	}
	off := renderChart(t, "rbac: {tenantRoles: false}")
	for _, name := range tenantRoles {
		if off.get("ClusterRole", name) != nil {
			t.Errorf("%s rendered with rbac.tenantRoles false", name)
		}
	}
}

// TestTenantRBAC proves against a real API server what a tenant bound to
// corral-runnerpool-editor in its namespace can and cannot do. envtest runs no
// clusterrole-aggregation controller, so the role is bound directly (as admin or edit
// would carry it). The admission policy is installed too: the tenant's way around it
// would be to relabel its namespace.
func TestTenantRBAC(t *testing.T) {
	requireInstallTests(t)
	ctrllog.SetLogger(logr.Discard())
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	ctx := context.Background()
	admin := env.Client
	mustCreate := func(obj client.Object) {
		t.Helper()
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
	for _, obj := range append(tenantRoleObjects(t), decodeObjects(t, readRepoFile(t, "config/admission/runnerclass-policy.yaml"))...) {
		mustCreate(obj)
	}
	served := map[string]string{"corral.run/class-acme": "true"}
	for name, labels := range map[string]map[string]string{"corral-system": nil, "team-a": served, "team-b": served, "team-c": nil} {
		mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	}
	mustCreate(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "corral-system", Name: "acme-app"},
		StringData: map[string]string{"app-id": "1", "installation-id": "2", "private-key": "the App's key"}})
	mustCreate(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "deploy-keys"},
		StringData: map[string]string{"prod": "x"}})
	class := gen.RunnerClass("acme", gen.WithClassNamespaces(served))
	class.Generation = 0
	mustCreate(class)
	const alice = "alice"
	bind := func(ns, role string) {
		t.Helper()
		mustCreate(&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: alice}},
		})
	}
	bind("team-a", "corral-runnerpool-editor")
	bind("team-c", "corral-runnerpool-editor")
	bind("team-b", "corral-runnerpool-viewer")
	cfg, err := env.AddUser(alice)
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// RBAC and the policy take effect once the API server's informers have them.
	waitFor(t, "the tenant's RoleBinding", func() error {
		return tenant.List(ctx, &corralv1.RunnerPoolList{}, client.InNamespace("team-a"))
	})
	waitFor(t, "the admission policy", func() error {
		err := tenant.Create(ctx, tenantPool("probe", "team-a", gen.WithURL("https://evil.example/acme")), client.DryRunAll)
		if err == nil {
			return errString("the policy is not enforced yet")
		}
		return nil
	})

	pool := tenantPool("builders", "team-a")
	t.Run("creates, changes and deletes a pool of the class in its namespace", func(t *testing.T) {
		if err := tenant.Create(ctx, pool); err != nil {
			t.Fatalf("create: %v", err)
		}
		pool.Spec.MaxRunners = 5
		if err := tenant.Update(ctx, pool); err != nil {
			t.Fatalf("update: %v", err)
		}
		if err := tenant.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}); err != nil {
			t.Fatalf("get: %v", err)
		}
		scratch := tenantPool("scratch", "team-a")
		if err := tenant.Create(ctx, scratch); err != nil {
			t.Fatalf("create: %v", err)
		}
		if err := tenant.Delete(ctx, scratch); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
	denied := []struct {
		name string
		do   func() error
	}{
		{"create a RunnerClass", func() error {
			c := gen.RunnerClass("mine", func(c *corralv1.RunnerClass) { c.Spec.GitHub.Organizations = []string{"evil"} })
			c.Generation = 0
			return tenant.Create(ctx, c)
		}},
		{"update the RunnerClass", func() error {
			c := &corralv1.RunnerClass{}
			if err := admin.Get(ctx, types.NamespacedName{Name: "acme"}, c); err != nil {
				return err
			}
			c.Spec.Limits.MaxRunnersPerPool = ptr.To[int32](1000)
			return tenant.Update(ctx, c)
		}},
		{"patch the RunnerClass's namespaceSelector", func() error {
			return tenant.Patch(ctx, &corralv1.RunnerClass{ObjectMeta: metav1.ObjectMeta{Name: "acme"}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"namespaceSelector":{}}}`)))
		}},
		{"delete the RunnerClass", func() error {
			return tenant.Delete(ctx, &corralv1.RunnerClass{ObjectMeta: metav1.ObjectMeta{Name: "acme"}})
		}},
		{"write the RunnerClass's status", func() error {
			return tenant.Status().Patch(ctx, &corralv1.RunnerClass{ObjectMeta: metav1.ObjectMeta{Name: "acme"}},
				client.RawPatch(types.MergePatchType, []byte(`{"status":{"observedGeneration":7}}`)))
		}},
		{"read the RunnerClass through its namespace's binding", func() error {
			return tenant.Get(ctx, types.NamespacedName{Name: "acme"}, &corralv1.RunnerClass{})
		}},
		{"write its pool's status (forged demand or conditions)", func() error {
			return tenant.Status().Patch(ctx, pool.DeepCopy(),
				client.RawPatch(types.MergePatchType, []byte(`{"status":{"queued":50}}`)))
		}},
		{"label its namespace so that a class serves it", func() error {
			return tenant.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-c"}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"corral.run/class-acme":"true"}}}`)))
		}},
		{"read the class's credentials Secret", func() error {
			return tenant.Get(ctx, types.NamespacedName{Namespace: "corral-system", Name: "acme-app"}, &corev1.Secret{})
		}},
		{"list the operator namespace's Secrets", func() error {
			return tenant.List(ctx, &corev1.SecretList{}, client.InNamespace("corral-system"))
		}},
		{"read a Secret of its own namespace (the editor role grants none)", func() error {
			return tenant.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "deploy-keys"}, &corev1.Secret{})
		}},
		{"create a pool in a namespace where it is a viewer", func() error {
			return tenant.Create(ctx, tenantPool("intruder", "team-b"))
		}},
		{"create a pool in a namespace where it has no role", func() error {
			return tenant.Create(ctx, tenantPool("intruder", "corral-system"))
		}},
		{"grant itself more in its namespace", func() error {
			return tenant.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "more"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: alice}},
			})
		}},
	}
	for _, d := range denied {
		t.Run("cannot "+d.name, func(t *testing.T) {
			if err := d.do(); !apierrors.IsForbidden(err) {
				t.Errorf("want 403 Forbidden, got %v", err)
			}
		})
	}
	t.Run("reads the pools of a namespace where it is a viewer", func(t *testing.T) {
		if err := tenant.List(ctx, &corralv1.RunnerPoolList{}, client.InNamespace("team-b")); err != nil {
			t.Error(err)
		}
	})
	t.Run("cannot create a pool of the class in a namespace the class does not serve", func(t *testing.T) {
		err := tenant.Create(ctx, tenantPool("unserved", "team-c"))
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "does not serve namespace team-c") {
			t.Errorf("want the admission policy's refusal, got %v", err)
		}
	})
	t.Run("reads RunnerClasses once corral-runnerclass-viewer is bound cluster-wide", func(t *testing.T) {
		mustCreate(&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "corral-runnerclass-viewers"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "corral-runnerclass-viewer"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"}},
		})
		waitFor(t, "the ClusterRoleBinding", func() error {
			return tenant.List(ctx, &corralv1.RunnerClassList{})
		})
		err := tenant.Delete(ctx, &corralv1.RunnerClass{ObjectMeta: metav1.ObjectMeta{Name: "acme"}})
		if !apierrors.IsForbidden(err) {
			t.Errorf("deleting the class: want 403 Forbidden, got %v", err)
		}
	})
}

// tenantPool is a pool of the class acme in ns, as a tenant writes it.
func tenantPool(name, ns string, mods ...gen.PoolModifier) *corralv1.RunnerPool {
	base := []gen.PoolModifier{gen.WithNamespace(ns), gen.WithClass("acme"), gen.WithNetworking(corralv1.NestedNetworkingHost)}
	p := gen.RunnerPool(name, append(base, mods...)...)
	p.UID, p.Generation = "", 0
	return p
}

// waitFor retries f for up to 30 s until it returns nil.
func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
