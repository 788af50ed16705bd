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

// webhookObjects are what webhook.enabled adds to the chart (release "corral").
func webhookObjects() []string {
	return []string{"Deployment/corral-webhook", "ServiceAccount/corral-webhook", "Service/corral-webhook",
		"Service/corral-webhook-metrics", "ClusterRole/corral-webhook", "ClusterRoleBinding/corral-webhook",
		"Role/corral-webhook-secrets", "RoleBinding/corral-webhook-secrets", "PodDisruptionBudget/corral-webhook"}
}

// valuesWebhook is the receiver as config/with-webhook renders it.
const valuesWebhook = `
webhook:
  enabled: true
  secretName: corral-webhook
`

// webhookRBAC is config/webhook/rbac.yaml: the receiver's rules (internal/autoscale's
// envtest suite runs the receiver with exactly these).
func webhookRBAC(t *testing.T) (cluster []rbacv1.PolicyRule, secrets rbacv1.PolicyRule) {
	t.Helper()
	objs := decodeObjects(t, readRepoFile(t, "config/webhook/rbac.yaml"))
	cluster = decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-webhook")).Rules
	role := decode[rbacv1.Role](t, objs.mustGet(t, "Role", "corral-webhook-secrets"))
	if len(role.Rules) != 1 {
		t.Fatalf("the receiver's Secret Role has %d rules, want 1", len(role.Rules))
	}
	return cluster, role.Rules[0]
}

// TestChartSplitsTheWebhookReceiver: with webhook.enabled the receiver runs in its own
// Deployment under its own ServiceAccount; the controller serves no webhook.
func TestChartSplitsTheWebhookReceiver(t *testing.T) {
	objs := renderChart(t, valuesEverything)
	ctrl := decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral")).Spec.Template.Spec
	web := decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral-webhook")).Spec.Template.Spec
	cargs, wargs := ctrl.Containers[0].Args, web.Containers[0].Args
	if argValue(cargs, "--components") != "controller" || argValue(wargs, "--components") != "webhook" {
		t.Errorf("--components: controller %q, receiver %q", argValue(cargs, "--components"), argValue(wargs, "--components"))
	}
	for _, flag := range []string{"--webhook-secret", "--webhook-bind-address", "--webhook-path"} {
		if argValue(cargs, flag) != "" {
			t.Errorf("the controller still gets %s", flag)
		}
		if argValue(wargs, flag) == "" {
			t.Errorf("the receiver lacks %s", flag)
		}
	}
	if argValue(cargs, "--webhook-recovery-credentials") != releaseNamespace+"/acme-app" || argValue(wargs, "--webhook-recovery-credentials") != "" {
		t.Error("the delivery recovery (with the App's credentials) must run in the controller, not the receiver")
	}
	if argValue(wargs, "--leader-elect") != "" || argValue(wargs, "--max-concurrent-reconciles") != "" {
		t.Errorf("the receiver gets controller flags: %v", wargs)
	}
	if !slices.Contains(wargs, "--webhook-queue-size=20000") {
		t.Errorf("webhook.extraArgs not passed: %v", wargs)
	}
	if ctrl.ServiceAccountName != "corral" || web.ServiceAccountName != "corral-webhook" {
		t.Errorf("ServiceAccounts: controller %s, receiver %s; want their own", ctrl.ServiceAccountName, web.ServiceAccountName)
	}
	if got := decode[corev1.ServiceAccount](t, objs.mustGet(t, "ServiceAccount", "corral-webhook")).Annotations["example.com/role"]; got != "webhook" {
		t.Errorf("webhook.serviceAccount.annotations not applied: %q", got)
	}
	if dep := decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral-webhook")); *dep.Spec.Replicas != 2 {
		t.Errorf("receiver replicas %d, want webhook.replicaCount 2", *dep.Spec.Replicas)
	}
	plain := decode[appsv1.Deployment](t, renderChart(t, "").mustGet(t, "Deployment", "corral")).Spec.Template.Spec.Containers[0].Args
	if argValue(plain, "--components") != "controller" {
		t.Errorf("without webhooks the controller runs %q, want controller", argValue(plain, "--components"))
	}
}

// TestChartWebhookRBAC: the receiver's ServiceAccount gets exactly config/webhook/rbac.yaml's
// rules, its Secret reads narrowed to webhook.secretName and webhook.secretNames; the
// controller's ServiceAccount gets none of its Roles nor the receiver any of the
// controller's.
func TestChartWebhookRBAC(t *testing.T) {
	cluster, secretRule := webhookRBAC(t)
	t.Run("cluster-wide", func(t *testing.T) {
		objs := renderChart(t, valuesEverything)
		got := decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-webhook")).Rules
		if diff := cmp.Diff(cluster, got); diff != "" {
			t.Errorf("ClusterRole corral-webhook differs from config/webhook/rbac.yaml (-config +chart):\n%s", diff)
		}
		role := decode[rbacv1.Role](t, objs.mustGet(t, "Role", "corral-webhook-secrets"))
		want := secretRule
		want.ResourceNames = []string{"github-webhook", "acme-webhook", "acme-app"}
		if role.Namespace != releaseNamespace || !cmp.Equal(role.Rules, []rbacv1.PolicyRule{want}) {
			t.Errorf("Role corral-webhook-secrets in %s: %+v, want %+v", role.Namespace, role.Rules, want)
		}
		checkWebhookBinding(t, objs, "ClusterRoleBinding", "corral-webhook", "", "corral-webhook")
		checkWebhookBinding(t, objs, "RoleBinding", "corral-webhook-secrets", releaseNamespace, "corral-webhook")
		checkBinding(t, objs, "ClusterRoleBinding", "corral-manager", "", "ClusterRole")
	})
	t.Run("namespaced", func(t *testing.T) {
		objs := renderChart(t, valuesWebhookNamespaced)
		var pools, classes []rbacv1.PolicyRule
		for _, r := range cluster {
			if slices.Contains(r.Resources, "runnerclasses") {
				classes = append(classes, r)
			} else {
				pools = append(pools, r)
			}
		}
		got := decode[rbacv1.ClusterRole](t, objs.mustGet(t, "ClusterRole", "corral-webhook")).Rules
		if diff := cmp.Diff(classes, got); diff != "" {
			t.Errorf("namespaced: the receiver's ClusterRole must grant only RunnerClasses (-want +got):\n%s", diff)
		}
		for _, ns := range []string{"ci", "build"} {
			var role *rbacv1.Role
			for _, obj := range objs.ofKind("Role") {
				if obj.GetName() == "corral-webhook" && obj.GetNamespace() == ns {
					role = decode[rbacv1.Role](t, obj)
				}
			}
			if role == nil {
				t.Errorf("no receiver Role in %s", ns)
				continue
			}
			if diff := cmp.Diff(pools, role.Rules); diff != "" {
				t.Errorf("receiver Role in %s (-want +got):\n%s", ns, diff)
			}
			checkWebhookBinding(t, objs, "RoleBinding", "corral-webhook", ns, "corral-webhook-existing")
		}
		if objs.get("ServiceAccount", "corral-webhook") != nil {
			t.Error("a receiver ServiceAccount rendered with webhook.serviceAccount.create false")
		}
	})
}

// TestWebhookRulesAreTheReceiversMarkers: what the receiver's Deployment may do is what the
// receiver's own +kubebuilder:rbac markers ask for, which the generated controller role
// (for a process running both components) grants too.
func TestWebhookRulesAreTheReceiversMarkers(t *testing.T) {
	cluster, secretRule := webhookRBAC(t)
	generated := generatedRules(t)
	for _, r := range append(slices.Clone(cluster), secretRule) {
		for _, res := range r.Resources {
			for _, verb := range r.Verbs {
				if !grants(generated, r.APIGroups[0], res, verb) {
					t.Errorf("the receiver may %s %s but config/rbac/role.yaml (its markers) does not grant it", verb, res)
				}
			}
		}
	}
	src := string(readRepoFile(t, "internal/autoscale/manager.go"))
	for _, marker := range []string{
		"groups=corral.run,resources=runnerpools,verbs=get;list;watch",
		"groups=corral.run,resources=runnerpools/status,verbs=patch",
		"groups=corral.run,resources=runnerclasses,verbs=get;list;watch",
		`groups="",resources=secrets,verbs=get`,
	} {
		if !strings.Contains(src, "+kubebuilder:rbac:"+marker) {
			t.Errorf("internal/autoscale/manager.go lacks the marker %s that config/webhook/rbac.yaml grants", marker)
		}
	}
}

// TestKustomizeWebhookMatchesChart: config/with-webhook renders the same receiver as the
// chart with webhook.enabled and webhook.secretName corral-webhook.
func TestKustomizeWebhookMatchesChart(t *testing.T) {
	chart := renderChart(t, valuesWebhook, valuesNoNodeAgents)
	kust := renderKustomize(t, "config/with-webhook")
	chartNames := withoutKinds(chart.names(), "Namespace")
	kustNames := withoutKinds(kust.names(), "Namespace")
	slices.Sort(chartNames)
	slices.Sort(kustNames)
	if diff := cmp.Diff(chartNames, kustNames); diff != "" {
		t.Errorf("objects differ (-chart +kustomize):\n%s", diff)
	}
	for _, name := range []string{"corral", "corral-webhook"} {
		c := decode[appsv1.Deployment](t, chart.mustGet(t, "Deployment", name))
		k := decode[appsv1.Deployment](t, kust.mustGet(t, "Deployment", name))
		checkControllerPod(t, k)
		c.Spec.Template.Spec.Containers[0].Image, k.Spec.Template.Spec.Containers[0].Image = "", ""
		if diff := cmp.Diff(c.Spec.Template.Spec, k.Spec.Template.Spec); diff != "" {
			t.Errorf("Deployment %s pod spec differs (-chart +kustomize):\n%s", name, diff)
		}
		if diff := cmp.Diff(c.Spec.Selector, k.Spec.Selector); diff != "" {
			t.Errorf("Deployment %s selector differs (-chart +kustomize):\n%s", name, diff)
		}
	}
	for _, obj := range chart {
		kobj := kust.get(obj.GetKind(), obj.GetName())
		if kobj == nil || !strings.HasPrefix(obj.GetName(), "corral-webhook") {
			continue
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
		}
	}
}

// checkWebhookBinding asserts that binding kind/name in ns binds the role of the same name
// to the receiver's ServiceAccount sa, and to nothing else.
func checkWebhookBinding(t *testing.T, objs objects, kind, name, ns, sa string) {
	t.Helper()
	for _, obj := range objs.ofKind(kind) {
		if obj.GetName() != name || obj.GetNamespace() != ns {
			continue
		}
		b := decode[rbacv1.ClusterRoleBinding](t, obj)
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: releaseNamespace}}
		if b.RoleRef.Name != name || !cmp.Equal(b.Subjects, want) {
			t.Errorf("%s %s/%s: roleRef %+v subjects %+v, want the receiver's ServiceAccount %s only", kind, ns, name, b.RoleRef, b.Subjects, sa)
		}
		return
	}
	t.Errorf("no %s %s in %q", kind, name, ns)
}

// grants reports whether rules grant verb on resource of group (no resourceNames).
func grants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) && len(r.ResourceNames) == 0 {
			return true
		}
	}
	return false
}

// TestChartPullMode: pull mode runs in the controller (the leader reads the Apps' logs)
// and needs nothing facing the internet: no receiver, no Service, no Ingress.
func TestChartPullMode(t *testing.T) {
	objs := renderChart(t, `
pull:
  enabled: true
  credentialsSecretNames: [acme-app, other-app]
  githubURL: https://ghes.example.com
  interval: 10s
  budget: 0.25
`)
	args := decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral")).Spec.Template.Spec.Containers[0].Args
	var creds []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--webhook-pull-credentials="); ok {
			creds = append(creds, v)
		}
	}
	if want := []string{releaseNamespace + "/acme-app", releaseNamespace + "/other-app"}; !slices.Equal(creds, want) {
		t.Errorf("--webhook-pull-credentials %v, want %v", creds, want)
	}
	for flag, want := range map[string]string{"--webhook-pull-github-url": "https://ghes.example.com", "--webhook-pull-interval": "10s", "--webhook-pull-budget": "0.25"} {
		if got := argValue(args, flag); got != want {
			t.Errorf("%s=%q, want %q", flag, got, want)
		}
	}
	for _, name := range webhookObjects() {
		kind, n, _ := strings.Cut(name, "/")
		if objs.get(kind, n) != nil {
			t.Errorf("pull mode renders %s: nothing should face the internet", name)
		}
	}
	if objs.get("Ingress", "corral-webhook") != nil {
		t.Error("pull mode renders an Ingress")
	}
	// Off by default: no pull flag at all.
	for _, a := range decode[appsv1.Deployment](t, renderChart(t).mustGet(t, "Deployment", "corral")).Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--webhook-pull-") {
			t.Errorf("default values pass %s", a)
		}
	}
}
