package install

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// generatedRules returns the controller's rules from config/rbac/role.yaml, generated from
// the +kubebuilder:rbac markers by `make manifests`.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(readRepoFile(t, "config/rbac/role.yaml"), &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// leaderElectionRules are what client-go's LeaseLock and controller-runtime's leader-election
// event recorder (core/v1 Events) use.
func leaderElectionRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
}

// TestChartRBACMatchesGenerated: the chart's ClusterRole, or each namespaced Role, carries
// exactly the generated rules; nothing else in the chart grants more.
func TestChartRBACMatchesGenerated(t *testing.T) {
	want := generatedRules(t)
	t.Run("cluster-wide", func(t *testing.T) {
		objs := renderChart(t, "")
		role := decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-manager"))
		if diff := cmp.Diff(want, role.Rules); diff != "" {
			t.Errorf("ClusterRole rules differ from config/rbac/role.yaml (-generated +chart):\n%s", diff)
		}
		checkBinding(t, objs, "ClusterRoleBinding", "corral-manager", "", "ClusterRole")
		if n := len(objs.ofKind("ClusterRole")); n != 1 {
			t.Errorf("%d ClusterRoles, want 1", n)
		}
	})
	t.Run("namespaced", func(t *testing.T) {
		objs := renderChart(t, valuesNamespaced)
		if cr := objs.ofKind("ClusterRole"); len(cr) != 0 || len(objs.ofKind("ClusterRoleBinding")) != 0 {
			t.Errorf("namespaced mode renders cluster-wide RBAC: %v", cr.names())
		}
		roles := map[string]*rbacv1.Role{}
		for _, obj := range objs.ofKind("Role") {
			if obj.GetName() == "corral-manager" {
				roles[obj.GetNamespace()] = decode[rbacv1.Role](t, obj)
			}
		}
		for _, ns := range []string{"ci", "build"} {
			role, ok := roles[ns]
			if !ok {
				t.Errorf("no manager Role in %s", ns)
				continue
			}
			if diff := cmp.Diff(want, role.Rules); diff != "" {
				t.Errorf("Role in %s differs from config/rbac/role.yaml (-generated +chart):\n%s", ns, diff)
			}
			checkBinding(t, objs, "RoleBinding", "corral-manager", ns, "Role")
		}
		if len(roles) != 2 {
			t.Errorf("manager Roles in %d namespaces, want 2", len(roles))
		}
		creds := objs.get("Role", "corral-credentials")
		secretRules := rulesFor(want, "", "secrets")
		if len(secretRules) == 0 {
			if creds != nil {
				t.Error("credentials Role rendered although the controller reads no Secrets")
			}
			return
		}
		if creds == nil || creds.GetNamespace() != releaseNamespace {
			t.Fatalf("no credentials Role in %s", releaseNamespace)
		}
		got := decode[rbacv1.Role](t, creds).Rules
		if diff := cmp.Diff(secretRules, got); diff != "" {
			t.Errorf("credentials Role: want only the generated Secret rules (-want +got):\n%s", diff)
		}
		checkBinding(t, objs, "RoleBinding", "corral-credentials", releaseNamespace, "Role")
	})
	t.Run("namespaced-own", func(t *testing.T) {
		objs := renderChart(t, valuesNamespacedOwn)
		if objs.get("Role", "corral-credentials") != nil {
			t.Error("credentials Role rendered although the release namespace is watched (it has the manager Role)")
		}
	})
}

// TestChartLeaderElectionRBAC: the Lease Role grants exactly what leader election uses, in
// the Lease's namespace, and is gone when leader election is off.
func TestChartLeaderElectionRBAC(t *testing.T) {
	objs := renderChart(t, "")
	role := decode[rbacv1.Role](t, objs.mustGet(t, "Role", "corral-leader-election"))
	if diff := cmp.Diff(leaderElectionRules(), role.Rules); diff != "" {
		t.Errorf("leader-election rules (-want +got):\n%s", diff)
	}
	checkBinding(t, objs, "RoleBinding", "corral-leader-election", releaseNamespace, "Role")
	if renderChart(t, valuesMinimal).get("Role", "corral-leader-election") != nil {
		t.Error("leader-election Role rendered with leader election off")
	}
}

// TestChartRBACNoWildcards: no rule in any rendering uses "*".
func TestChartRBACNoWildcards(t *testing.T) {
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			for _, obj := range renderChart(t, vs.values) {
				if obj.GetKind() != "Role" && obj.GetKind() != "ClusterRole" {
					continue
				}
				for _, r := range decode[rbacv1.ClusterRole](t, obj).Rules {
					if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
						t.Errorf("%s %s has a wildcard rule %+v", obj.GetKind(), obj.GetName(), r)
					}
				}
			}
		})
	}
}

// checkBinding asserts that binding kind/name in ns binds role kind roleKind of the same
// name to the controller's ServiceAccount.
func checkBinding(t *testing.T, objs objects, kind, name, ns, roleKind string) {
	t.Helper()
	var found bool
	for _, obj := range objs.ofKind(kind) {
		if obj.GetName() != name || obj.GetNamespace() != ns {
			continue
		}
		found = true
		b := decode[rbacv1.ClusterRoleBinding](t, obj)
		wantSubject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "corral", Namespace: releaseNamespace}}
		if b.RoleRef.Kind != roleKind || b.RoleRef.Name != name || !cmp.Equal(b.Subjects, wantSubject) {
			t.Errorf("%s %s/%s: roleRef %+v subjects %+v", kind, ns, name, b.RoleRef, b.Subjects)
		}
	}
	if !found {
		t.Errorf("no %s %s in %q", kind, name, ns)
	}
}

// rulesFor returns the rules granting on resource of group, narrowed to that resource.
func rulesFor(rules []rbacv1.PolicyRule, group, resource string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) {
			out = append(out, rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: r.Verbs})
		}
	}
	return out
}
