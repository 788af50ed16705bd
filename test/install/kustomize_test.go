package install

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestKustomizeMatchesChart: `kubectl kustomize config/default` renders the same controller
// as the chart with default values: the same objects by kind, namespace and name, the same
// pod spec (image tag aside), RBAC rules, Services, CRDs and admission policy.
func TestKustomizeMatchesChart(t *testing.T) {
	// The node agents are not part of config/default (its namespace enforces restricted):
	// config/seccomp and config/tun-device-plugin hold them, checked on their own.
	chart := renderChart(t, valuesNoNodeAgents)
	kust := renderKustomize(t, "config/default")

	chartNames := withoutKinds(chart.names(), "Namespace")
	kustNames := withoutKinds(kust.names(), "Namespace")
	slices.Sort(chartNames)
	slices.Sort(kustNames)
	if diff := cmp.Diff(chartNames, kustNames); diff != "" {
		t.Errorf("objects differ (-chart +kustomize):\n%s", diff)
	}
	kust.mustGet(t, "Namespace", releaseNamespace)

	cdep := decode[appsv1.Deployment](t, chart.mustGet(t, "Deployment", "corral"))
	kdep := decode[appsv1.Deployment](t, kust.mustGet(t, "Deployment", "corral"))
	checkControllerPod(t, kdep)
	if cdep.Spec.Template.Spec.Containers[0].Image != kdep.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("image: chart %s, kustomize %s", cdep.Spec.Template.Spec.Containers[0].Image, kdep.Spec.Template.Spec.Containers[0].Image)
	}
	if diff := cmp.Diff(cdep.Spec.Template.Spec, kdep.Spec.Template.Spec); diff != "" {
		t.Errorf("controller pod spec differs (-chart +kustomize):\n%s", diff)
	}
	if diff := cmp.Diff(cdep.Spec.Selector, kdep.Spec.Selector); diff != "" {
		t.Errorf("Deployment selector differs (-chart +kustomize):\n%s", diff)
	}
	if !cmp.Equal(cdep.Spec.Replicas, kdep.Spec.Replicas) {
		t.Error("replicas differ")
	}
	for k, v := range cdep.Spec.Template.Labels {
		if kdep.Spec.Template.Labels[k] != v {
			t.Errorf("pod label %s: chart %q, kustomize %q", k, v, kdep.Spec.Template.Labels[k])
		}
	}

	for _, obj := range chart {
		kobj := kust.get(obj.GetKind(), obj.GetName())
		if kobj == nil || obj.GetNamespace() != kobj.GetNamespace() {
			continue // reported above
		}
		switch obj.GetKind() {
		case "ClusterRole", "Role":
			c, k := decode[rbacv1.ClusterRole](t, obj), decode[rbacv1.ClusterRole](t, kobj)
			if diff := cmp.Diff(c.Rules, k.Rules); diff != "" {
				t.Errorf("%s %s rules differ (-chart +kustomize):\n%s", obj.GetKind(), obj.GetName(), diff)
			}
		case "ClusterRoleBinding", "RoleBinding":
			c, k := decode[rbacv1.ClusterRoleBinding](t, obj), decode[rbacv1.ClusterRoleBinding](t, kobj)
			if !cmp.Equal(c.RoleRef, k.RoleRef) || !cmp.Equal(c.Subjects, k.Subjects) {
				t.Errorf("%s %s differs: chart %+v %+v, kustomize %+v %+v", obj.GetKind(), obj.GetName(), c.RoleRef, c.Subjects, k.RoleRef, k.Subjects)
			}
		case "Service":
			c, k := decode[corev1.Service](t, obj), decode[corev1.Service](t, kobj)
			if diff := cmp.Diff(c.Spec, k.Spec); diff != "" {
				t.Errorf("Service %s differs (-chart +kustomize):\n%s", obj.GetName(), diff)
			}
		case "CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if diff := cmp.Diff(obj.Object["spec"], kobj.Object["spec"]); diff != "" {
				t.Errorf("%s %s spec differs (-chart +kustomize):\n%s", obj.GetKind(), obj.GetName(), diff)
			}
		}
	}
}

// TestKustomizeNamespaceRestricted: the operator's namespace enforces Pod Security
// restricted, which the controller passes.
func TestKustomizeNamespaceRestricted(t *testing.T) {
	ns := renderKustomize(t, "config/default").mustGet(t, "Namespace", releaseNamespace)
	if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace enforce label %q, want restricted", got)
	}
}

// withoutKinds drops "Kind/..." entries of the given kinds.
// valuesNoNodeAgents turn the node agents off: kustomize's config/default has none (its
// namespace enforces restricted); config/seccomp and config/tun-device-plugin hold them.
const valuesNoNodeAgents = `
seccompProfile:
  install: false
tunDevicePlugin:
  enabled: false
`

func withoutKinds(names []string, kinds ...string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
		kind, _, _ := strings.Cut(n, "/")
		return slices.Contains(kinds, kind)
	})
}
