package install

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
)

// generatedRBAC is config/rbac/role.yaml, generated from the +kubebuilder:rbac markers by
// `make manifests`: the controller's ClusterRole, and the Role of its own namespace
// (corral-system there; the chart renders it in the release namespace).
type generatedRBAC struct {
	cluster  []rbacv1.PolicyRule // the ClusterRole corral-manager
	operator []rbacv1.PolicyRule // the Role corral-manager of the operator's namespace
}

func generated(t *testing.T) generatedRBAC {
	t.Helper()
	objs := decodeObjects(t, readRepoFile(t, "config/rbac/role.yaml"))
	if len(objs) != 2 {
		t.Fatalf("config/rbac/role.yaml has %v, want a ClusterRole and a Role", objs.names())
	}
	g := generatedRBAC{
		cluster:  decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-manager")).Rules,
		operator: decode[rbacv1.Role](t, objs.mustGet(t, "Role", "corral-manager")).Rules,
	}
	if len(g.cluster) == 0 || len(g.operator) == 0 {
		t.Fatal("config/rbac/role.yaml has a role without rules")
	}
	return g
}

// generatedRules are the generated ClusterRole's rules.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	return generated(t).cluster
}

// clusterScopedResources are the cluster-scoped resources among the controller's rules;
// namespacedResources the others. A resource new to the markers must be added to one of
// them: with watchNamespaces the chart grants the first in a ClusterRole, the rest in Roles.
var (
	clusterScopedResources = []string{"namespaces", "nodes", "runnerclasses", "runnerclasses/status"}
	namespacedResources    = []string{"configmaps", "pods", "secrets", "events", "networkpolicies",
		"runnerpools", "runnerpools/status", "runnerpools/finalizers", "tracingpoliciesnamespaced"}
)

// leaderElectionRules are what client-go's LeaseLock and controller-runtime's leader-election
// event recorder (core/v1 Events) use.
func leaderElectionRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
}

// TestChartRBACMatchesGenerated: the chart's ClusterRole carries exactly the generated
// ClusterRole's rules and its Role in the release namespace exactly the generated Role's;
// with watchNamespaces the same grants are split between a ClusterRole (cluster-scoped
// resources only) and a Role per watched namespace. Nothing else is bound to the
// controller.
func TestChartRBACMatchesGenerated(t *testing.T) {
	want := generated(t)
	t.Run("cluster-wide", func(t *testing.T) {
		objs := renderChart(t, "")
		role := decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-manager"))
		if diff := cmp.Diff(want.cluster, role.Rules); diff != "" {
			t.Errorf("ClusterRole rules differ from config/rbac/role.yaml (-generated +chart):\n%s", diff)
		}
		checkBinding(t, objs, "ClusterRoleBinding", "corral-manager", "", "ClusterRole")
		if diff := cmp.Diff(want.operator, managerRole(t, objs, releaseNamespace).Rules); diff != "" {
			t.Errorf("the release namespace's Role differs from config/rbac/role.yaml's Role (-generated +chart):\n%s", diff)
		}
		checkBinding(t, objs, "RoleBinding", "corral-manager", releaseNamespace, "Role")
		checkOnlyBoundToController(t, objs, "corral-manager", "corral-leader-election")
	})
	t.Run("namespaced", func(t *testing.T) {
		objs := renderChart(t, valuesNamespaced)
		clusterRules := decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-manager")).Rules
		for _, r := range clusterRules {
			for _, res := range r.Resources {
				if !slices.Contains(clusterScopedResources, res) {
					t.Errorf("namespaced mode: the ClusterRole grants the namespaced %s in every namespace", res)
				}
			}
		}
		checkBinding(t, objs, "ClusterRoleBinding", "corral-manager", "", "ClusterRole")
		for _, ns := range []string{"ci", "build"} {
			got := append(slices.Clone(clusterRules), managerRole(t, objs, ns).Rules...)
			checkSameGrants(t, "namespace "+ns, want.cluster, got)
			checkBinding(t, objs, "RoleBinding", "corral-manager", ns, "Role")
		}
		if diff := cmp.Diff(want.operator, managerRole(t, objs, releaseNamespace).Rules); diff != "" {
			t.Errorf("the release namespace's Role differs from config/rbac/role.yaml's Role (-generated +chart):\n%s", diff)
		}
		checkBinding(t, objs, "RoleBinding", "corral-manager", releaseNamespace, "Role")
		if n := len(objs.ofKind("Role")) - 1; n != 3 { // minus leader election
			t.Errorf("%d manager Roles, want one per watched namespace and the release namespace's", n)
		}
		checkOnlyBoundToController(t, objs, "corral-manager", "corral-leader-election")
	})
	t.Run("namespaced-own", func(t *testing.T) {
		// The release namespace is watched: its one Role carries both sets of rules.
		objs := renderChart(t, valuesNamespacedOwn)
		clusterRules := decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-manager")).Rules
		own := managerRole(t, objs, releaseNamespace).Rules
		checkSameGrants(t, "the release namespace", append(slices.Clone(want.cluster), want.operator...), append(slices.Clone(clusterRules), own...))
		checkSameGrants(t, "namespace ci", want.cluster, append(slices.Clone(clusterRules), managerRole(t, objs, "ci").Rules...))
	})
	t.Run("every resource is classified", func(t *testing.T) {
		for _, r := range append(slices.Clone(want.cluster), want.operator...) {
			for _, res := range r.Resources {
				if !slices.Contains(clusterScopedResources, res) && !slices.Contains(namespacedResources, res) {
					t.Errorf("%s is new to the controller's rules: add it to clusterScopedResources (and the chart's corral.clusterScopedResources) or namespacedResources", res)
				}
			}
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

// managerRole returns the Role corral-manager of namespace ns.
func managerRole(t *testing.T, objs objects, ns string) *rbacv1.Role {
	t.Helper()
	for _, obj := range objs.ofKind("Role") {
		if obj.GetName() == "corral-manager" && obj.GetNamespace() == ns {
			return decode[rbacv1.Role](t, obj)
		}
	}
	t.Fatalf("no Role corral-manager in %s among %v", ns, objs.names())
	return nil
}

// checkSameGrants asserts that got grants exactly the (group, resource, verb) triples want
// grants.
func checkSameGrants(t *testing.T, where string, want, got []rbacv1.PolicyRule) {
	t.Helper()
	w, g := grantSet(want), grantSet(got)
	for k := range w {
		if !g[k] {
			t.Errorf("%s: the chart does not grant %s", where, k)
		}
	}
	for k := range g {
		if !w[k] {
			t.Errorf("%s: the chart grants %s, which the generated rules do not", where, k)
		}
	}
}

// grantSet flattens rules into "group/resource verb" strings (rules with resourceNames
// are kept apart).
func grantSet(rules []rbacv1.PolicyRule) map[string]bool {
	out := map[string]bool{}
	for _, r := range rules {
		for _, group := range r.APIGroups {
			for _, res := range r.Resources {
				for _, verb := range r.Verbs {
					k := group + "/" + res + " " + verb
					if len(r.ResourceNames) > 0 {
						k += " (named)"
					}
					out[k] = true
				}
			}
		}
	}
	return out
}

// checkOnlyBoundToController asserts that the controller's ServiceAccount is bound to the
// named roles only.
func checkOnlyBoundToController(t *testing.T, objs objects, roles ...string) {
	t.Helper()
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, obj := range objs.ofKind(kind) {
			b := decode[rbacv1.ClusterRoleBinding](t, obj)
			for _, s := range b.Subjects {
				if s.Kind == "ServiceAccount" && s.Name == "corral" && !slices.Contains(roles, b.RoleRef.Name) {
					t.Errorf("%s %s binds the controller to %s %s", kind, obj.GetName(), b.RoleRef.Kind, b.RoleRef.Name)
				}
			}
		}
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

// TestNoClusterWideSecretListOrWatch: neither the controller nor the webhook receiver may
// list or watch Secrets across the cluster (the controller watches the operator namespace's
// only; every other Secret it reads live, by name). A cluster-wide list/watch would hand
// the operator every Secret of every tenant, data included.
func TestNoClusterWideSecretListOrWatch(t *testing.T) {
	objs := decodeObjects(t, readRepoFile(t, "config/rbac/role.yaml"))
	objs = append(objs, decodeObjects(t, readRepoFile(t, "config/webhook/rbac.yaml"))...)
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" {
			continue
		}
		for _, r := range decode[rbacv1.ClusterRole](t, o).Rules {
			grantsSecrets := slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*")
			if grantsSecrets && (slices.Contains(r.Verbs, "list") || slices.Contains(r.Verbs, "watch") || slices.Contains(r.Verbs, "*")) {
				t.Errorf("ClusterRole %s lets its holder %v Secrets in every namespace", o.GetName(), r.Verbs)
			}
		}
	}
}
