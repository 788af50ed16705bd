package install

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

func TestChartLint(t *testing.T) {
	helm := tool(t, "HELM")
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir, "--namespace", releaseNamespace, "--kube-version", kubeVersion}
			if vs.values != "" {
				f := writeTemp(t, "values.yaml", vs.values)
				args = append(args, "--values", f)
			}
			out, err := run(t, helm, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(string(out), "0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

// TestChartObjects checks which objects each value set renders.
func TestChartObjects(t *testing.T) {
	always := []string{"ServiceAccount/corral", "Deployment/corral"}
	tests := []struct {
		name    string
		values  string
		present []string
		absent  []string
	}{{
		name:   "defaults",
		values: "",
		present: []string{"CustomResourceDefinition/runnerpools.corral.run", "CustomResourceDefinition/runnerclasses.corral.run",
			"ClusterRole/corral-manager", "ClusterRoleBinding/corral-manager", "Role/corral-manager", "RoleBinding/corral-manager",
			"Role/corral-leader-election", "RoleBinding/corral-leader-election", "Service/corral-metrics",
			"ValidatingAdmissionPolicy/corral-runnerclass", "ValidatingAdmissionPolicyBinding/corral-runnerclass",
			"ClusterRole/corral-runnerpool-editor", "ClusterRole/corral-runnerpool-viewer", "ClusterRole/corral-runnerclass-viewer",
			"DaemonSet/corral-seccomp-installer", "ConfigMap/corral-seccomp-profiles", "DaemonSet/corral-tun-device-plugin"},
		absent: append([]string{"PodDisruptionBudget/corral", "Ingress/corral-webhook",
			"ServiceMonitor/corral", "PriorityClass/corral-runner"}, webhookObjects()...),
	}, {
		name:   "everything",
		values: valuesEverything,
		present: append([]string{"PodDisruptionBudget/corral", "Ingress/corral-webhook",
			"ServiceMonitor/corral", "PriorityClass/corral-runner", "DaemonSet/corral-seccomp-installer",
			"DaemonSet/corral-tun-device-plugin", "ConfigMap/corral-seccomp-profiles", "Service/corral-metrics", "ClusterRole/corral-manager"}, webhookObjects()...),
	}, {
		name:   "namespaced",
		values: valuesNamespaced,
		present: []string{"Role/corral-manager", "RoleBinding/corral-manager", "ClusterRole/corral-manager",
			"ClusterRoleBinding/corral-manager"},
	}, {
		name:    "minimal",
		values:  valuesMinimal,
		present: []string{},
		absent: []string{"CustomResourceDefinition/runnerpools.corral.run", "CustomResourceDefinition/runnerclasses.corral.run",
			"ClusterRole/corral-manager", "Role/corral-manager", "Role/corral-leader-election", "Service/corral-metrics",
			"ServiceAccount/corral", "ValidatingAdmissionPolicy/corral-runnerclass",
			"ValidatingAdmissionPolicyBinding/corral-runnerclass", "ClusterRole/corral-runnerpool-editor"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := renderChart(t, tt.values)
			want := tt.present
			if tt.name != "minimal" {
				want = append(slices.Clone(always), want...)
			}
			for _, ref := range want {
				kind, name, _ := strings.Cut(ref, "/")
				objs.mustGet(t, kind, name)
			}
			for _, ref := range tt.absent {
				kind, name, _ := strings.Cut(ref, "/")
				if objs.get(kind, name) != nil {
					t.Errorf("%s rendered, want it absent", ref)
				}
			}
		})
	}
}

// TestChartControllerHardened checks the controller pod, and the webhook receiver's where
// it is enabled, in every value set: Pod Security restricted, UID 65532, read-only root,
// no capabilities, RuntimeDefault seccomp, limits, probes on the health port.
func TestChartControllerHardened(t *testing.T) {
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			objs := renderChart(t, vs.values)
			checkControllerPod(t, decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral")))
			if obj := objs.get("Deployment", "corral-webhook"); obj != nil {
				checkControllerPod(t, decode[appsv1.Deployment](t, obj))
			}
		})
	}
}

// checkControllerPod asserts the hardening of a controller Deployment (the chart's or
// kustomize's).
func checkControllerPod(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range ev.EvaluatePod(lv, &dep.Spec.Template.ObjectMeta, &spec) {
		if !r.Allowed {
			t.Errorf("Pod Security restricted: %s: %s", r.ForbiddenReason, r.ForbiddenDetail)
		}
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("controller shares a host namespace")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("controller mounts hostPath %s", v.HostPath.Path)
		}
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no container securityContext")
	case sc.RunAsUser == nil || *sc.RunAsUser != 65532, sc.RunAsGroup == nil || *sc.RunAsGroup != 65532:
		t.Error("controller must run as 65532:65532")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot not set")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("container seccomp profile is not RuntimeDefault")
	}
	if psc := spec.SecurityContext; psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccomp profile is not RuntimeDefault")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
	}
	healthPort := ""
	for _, p := range c.Ports {
		if p.Name == "health" {
			healthPort = strings.TrimPrefix(argValue(c.Args, "--health-probe-bind-address"), ":")
			if healthPort != itoa(p.ContainerPort) {
				t.Errorf("health port %d, flag says %q", p.ContainerPort, healthPort)
			}
		}
	}
	for name, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name || probe.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %s missing or not on the health port: %+v", name, probe)
		}
	}
	if healthPort == "" {
		t.Error("no health port")
	}
}

// TestChartServicesReachPorts checks that every Service, PDB and the Ingress select the pods
// of exactly one Deployment and name ports its container has: the webhook Service and
// Ingress reach the receiver's pods, never the controller's.
func TestChartServicesReachPorts(t *testing.T) {
	objs := renderChart(t, valuesEverything)
	deployments := map[string]*appsv1.Deployment{}
	for _, name := range []string{"corral", "corral-webhook"} {
		deployments[name] = decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", name))
	}
	ports := func(dep *appsv1.Deployment) map[string]int32 {
		out := map[string]int32{}
		for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
			out[p.Name] = p.ContainerPort
		}
		return out
	}
	// selected returns the one Deployment whose pods sel selects.
	selected := func(kind, name string, sel labels.Selector) *appsv1.Deployment {
		var got []string
		for dname, dep := range deployments {
			if sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
				got = append(got, dname)
			}
		}
		if len(got) != 1 {
			t.Errorf("%s %s selects the pods of %v, want exactly one Deployment", kind, name, got)
			return nil
		}
		return deployments[got[0]]
	}
	wantTarget := map[string]string{"corral-metrics": "corral", "corral-webhook": "corral-webhook", "corral-webhook-metrics": "corral-webhook"}
	for _, obj := range objs.ofKind("Service") {
		svc := decode[corev1.Service](t, obj)
		dep := selected("Service", svc.Name, labels.SelectorFromSet(svc.Spec.Selector))
		if dep == nil {
			continue
		}
		if want := wantTarget[svc.Name]; dep.Name != want {
			t.Errorf("Service %s selects Deployment %s, want %s", svc.Name, dep.Name, want)
		}
		for _, p := range svc.Spec.Ports {
			if _, ok := ports(dep)[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s targets port %q Deployment %s lacks (%v)", svc.Name, p.TargetPort.String(), dep.Name, ports(dep))
			}
		}
	}
	web := deployments["corral-webhook"].Spec.Template.Spec.Containers[0]
	if got := argValue(web.Args, "--webhook-bind-address"); got != ":"+itoa(ports(deployments["corral-webhook"])["webhook"]) {
		t.Errorf("--webhook-bind-address=%s, container port %d", got, ports(deployments["corral-webhook"])["webhook"])
	}
	if _, ok := ports(deployments["corral"])["webhook"]; ok {
		t.Error("the controller still has a webhook port")
	}
	for _, name := range []string{"corral", "corral-webhook"} {
		pdb := decode[policyv1.PodDisruptionBudget](t, objs.mustGet(t, "PodDisruptionBudget", name))
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		if dep := selected("PodDisruptionBudget", name, sel); dep != nil && dep.Name != name {
			t.Errorf("PDB %s selects Deployment %s's pods", name, dep.Name)
		}
		installer := decode[appsv1.DaemonSet](t, objs.mustGet(t, "DaemonSet", "corral-seccomp-installer"))
		if sel.Matches(labels.Set(installer.Spec.Template.Labels)) {
			t.Errorf("PDB %s selects the seccomp installer's pods", name)
		}
	}
	ing := decode[networkingv1.Ingress](t, objs.mustGet(t, "Ingress", "corral-webhook"))
	path := ing.Spec.Rules[0].HTTP.Paths[0]
	if path.Path != argValue(web.Args, "--webhook-path") ||
		path.Backend.Service.Name != "corral-webhook" || path.Backend.Service.Port.Name != "webhook" {
		t.Errorf("Ingress path %+v does not route the webhook path to the webhook Service", path)
	}
	if ing.Spec.Rules[0].Host != "corral.example.com" || len(ing.Spec.TLS) != 1 {
		t.Errorf("Ingress host/tls not from values: %+v", ing.Spec)
	}
}

// TestChartReplicasAndLeaderElection checks that more than one replica gets a PDB and keeps
// leader election on, and that the Lease namespace follows the values.
func TestChartReplicasAndLeaderElection(t *testing.T) {
	objs := renderChart(t, valuesEverything)
	dep := decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral"))
	if *dep.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *dep.Spec.Replicas)
	}
	if got := argValue(dep.Spec.Template.Spec.Containers[0].Args, "--leader-elect"); got != "true" {
		t.Errorf("--leader-elect=%q with 3 replicas", got)
	}
	lease := renderChart(t, valuesLeaseElsewhere)
	ldep := decode[appsv1.Deployment](t, lease.mustGet(t, "Deployment", "corral"))
	if got := argValue(ldep.Spec.Template.Spec.Containers[0].Args, "--leader-election-namespace"); got != "kube-system" {
		t.Errorf("--leader-election-namespace=%q, want kube-system", got)
	}
	if role := lease.mustGet(t, "Role", "corral-leader-election"); role.GetNamespace() != "kube-system" {
		t.Errorf("leader-election Role in %q, want kube-system", role.GetNamespace())
	}
	minimal := decode[appsv1.Deployment](t, renderChart(t, valuesMinimal).mustGet(t, "Deployment", "corral"))
	args := minimal.Spec.Template.Spec.Containers[0].Args
	if argValue(args, "--leader-elect") != "false" || argValue(args, "--metrics-bind-address") != "0" {
		t.Errorf("minimal values: args %v, want leader election and metrics off", args)
	}
	if minimal.Spec.Template.Spec.ServiceAccountName != "corral-existing" {
		t.Errorf("serviceAccountName %q, want corral-existing", minimal.Spec.Template.Spec.ServiceAccountName)
	}
}

// TestChartSeccompInstaller: the installer puts config/seccomp/podman.json where pools look
// for Corral's Localhost profile (corralv1.DefaultSeccompLocalhostProfile under the kubelet's
// seccomp directory), and is confined apart from its one hostPath.
func TestChartSeccompInstaller(t *testing.T) {
	objs := renderChart(t, valuesEverything)
	cm := decode[corev1.ConfigMap](t, objs.mustGet(t, "ConfigMap", "corral-seccomp-profiles"))
	if cm.Data["podman.json"] != string(readRepoFile(t, "config/seccomp/podman.json")) {
		t.Error("the installer's ConfigMap does not carry config/seccomp/podman.json")
	}
	ds := decode[appsv1.DaemonSet](t, objs.mustGet(t, "DaemonSet", "corral-seccomp-installer"))
	spec := ds.Spec.Template.Spec
	var hostPaths []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths = append(hostPaths, v.HostPath.Path)
		}
	}
	if !slices.Equal(hostPaths, []string{"/var/lib/kubelet/seccomp"}) {
		t.Errorf("hostPaths %v, want only the kubelet's seccomp directory", hostPaths)
	}
	if len(spec.InitContainers) != 1 {
		t.Fatalf("want one init container, got %d", len(spec.InitContainers))
	}
	script := strings.Join(spec.InitContainers[0].Command, " ")
	if !strings.Contains(script, "/host/seccomp/"+corralv1.DefaultSeccompLocalhostProfile) {
		t.Errorf("installer does not write %s:\n%s", corralv1.DefaultSeccompLocalhostProfile, script)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("installer pods get a service account token")
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.Privileged != nil && *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("installer container %s is not confined: %+v", c.Name, sc)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("installer container %s has no memory limit", c.Name)
		}
	}
	if renderChart(t, "seccompProfile:\n  install: false\n").get("DaemonSet", "corral-seccomp-installer") != nil {
		t.Error("the installer is rendered with seccompProfile.install false")
	}
}

// TestChartTunDevicePlugin: the device plugin runs the controller image's
// tun-device-plugin subcommand with flags it defines, sees the node's /dev/net read-only,
// writes only to the kubelet's device plugin directory, and is confined otherwise.
func TestChartTunDevicePlugin(t *testing.T) {
	requireInstallTests(t)
	objs := renderChart(t, valuesEverything)
	ds := decode[appsv1.DaemonSet](t, objs.mustGet(t, "DaemonSet", "corral-tun-device-plugin"))
	spec := ds.Spec.Template.Spec
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	if want := map[string]string{"device-plugins": "/var/lib/kubelet/device-plugins", "dev-net": "/dev/net"}; !maps.Equal(hostPaths, want) {
		t.Errorf("hostPaths %v, want %v", hostPaths, want)
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("want one container, got %d (and %d init)", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	controller := decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral")).Spec.Template.Spec.Containers[0].Image
	if c.Image != controller {
		t.Errorf("plugin image %s, want the controller's %s", c.Image, controller)
	}
	for _, m := range c.VolumeMounts {
		if m.Name == "dev-net" && !m.ReadOnly {
			t.Error("the node's /dev/net is mounted writable")
		}
	}
	if len(c.Args) == 0 || c.Args[0] != "tun-device-plugin" {
		t.Fatalf("args %v, want the tun-device-plugin subcommand first", c.Args)
	}
	if !slices.Contains(c.Args, "--devices=250") || spec.PriorityClassName != "system-node-critical" {
		t.Errorf("values not applied: args %v, priority class %q", c.Args, spec.PriorityClassName)
	}
	flags := commandFlags(t, []string{"tun-device-plugin"}, "plugin-dir", "check-path", "devices")
	for _, f := range containerFlags(t, c.Args[1:]) {
		if !flags[f] {
			t.Errorf("the plugin's flag --%s is not one `corral tun-device-plugin` defines", f)
		}
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("plugin pods get a service account token")
	}
	sc := c.SecurityContext
	if sc == nil || sc.Privileged != nil && *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("plugin container is not confined: %+v", sc)
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("plugin container has no memory limit")
	}
	if renderChart(t, "tunDevicePlugin:\n  enabled: false\n").get("DaemonSet", "corral-tun-device-plugin") != nil {
		t.Error("the plugin is rendered with tunDevicePlugin.enabled false")
	}
}

// TestChartNodeAgentNamespace: the node agents (and the installer's ConfigMap) go to
// nodeAgentNamespace when it is set, the release namespace otherwise; nothing else moves.
func TestChartNodeAgentNamespace(t *testing.T) {
	requireInstallTests(t)
	agents := []string{"DaemonSet/corral-tun-device-plugin", "DaemonSet/corral-seccomp-installer", "ConfigMap/corral-seccomp-profiles"}
	for _, tc := range []struct{ values, want string }{
		{"", releaseNamespace},
		{"nodeAgentNamespace: corral-node\n", "corral-node"},
	} {
		for _, obj := range renderChart(t, tc.values) {
			name := obj.GetKind() + "/" + obj.GetName()
			isAgent := slices.Contains(agents, name)
			switch ns := obj.GetNamespace(); {
			case isAgent && ns != tc.want:
				t.Errorf("values %q: %s in namespace %q, want %q", tc.values, name, ns, tc.want)
			case !isAgent && ns != "" && ns != releaseNamespace:
				t.Errorf("values %q: %s moved to namespace %q", tc.values, name, ns)
			}
		}
	}
	if _, err := helmTemplate(t, "nodeAgentNamespace: Not_A_Namespace\n"); err == nil {
		t.Error("the schema accepts an invalid nodeAgentNamespace")
	}
}

// TestConfigTunDevicePluginMatchesChart: config/tun-device-plugin/daemonset.yaml runs the
// chart's default plugin, pod for pod.
func TestConfigTunDevicePluginMatchesChart(t *testing.T) {
	requireInstallTests(t)
	config := decodeObjects(t, readRepoFile(t, "config/tun-device-plugin/daemonset.yaml"))
	want := decode[appsv1.DaemonSet](t, renderChart(t, "").mustGet(t, "DaemonSet", "corral-tun-device-plugin")).Spec.Template.Spec
	got := decode[appsv1.DaemonSet](t, config.mustGet(t, "DaemonSet", "corral-tun-device-plugin"))
	if diff := cmp.Diff(want, got.Spec.Template.Spec); diff != "" {
		t.Errorf("plugin pod differs (-chart +config/tun-device-plugin):\n%s", diff)
	}
	if got.Namespace != releaseNamespace {
		t.Errorf("config/tun-device-plugin runs in %q, want %q as config/seccomp/installer.yaml", got.Namespace, releaseNamespace)
	}
}

// TestChartSeccompInstallerMatchesConfig: the chart's installer is the one
// config/seccomp/installer.yaml (generated by hack/seccomp) installs, pod for pod.
func TestChartSeccompInstallerMatchesConfig(t *testing.T) {
	chart := renderChart(t, valuesEverything)
	generated := decodeObjects(t, readRepoFile(t, "config/seccomp/installer.yaml"))
	want := decode[appsv1.DaemonSet](t, generated.mustGet(t, "DaemonSet", "corral-seccomp-installer")).Spec.Template.Spec
	got := decode[appsv1.DaemonSet](t, chart.mustGet(t, "DaemonSet", "corral-seccomp-installer")).Spec.Template.Spec
	// The chart pins the pull policy the API server would default anyway.
	for i := range got.InitContainers {
		got.InitContainers[i].ImagePullPolicy = ""
	}
	for i := range got.Containers {
		got.Containers[i].ImagePullPolicy = ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("installer pod differs (-config/seccomp/installer.yaml +chart):\n%s", diff)
	}
	wantCM := decode[corev1.ConfigMap](t, generated.mustGet(t, "ConfigMap", "corral-seccomp-profiles"))
	gotCM := decode[corev1.ConfigMap](t, chart.mustGet(t, "ConfigMap", "corral-seccomp-profiles"))
	if !cmp.Equal(wantCM.Data, gotCM.Data) {
		t.Error("the installers' ConfigMaps carry different profiles")
	}
}

// TestChartGoMemLimit: GOMEMLIMIT is goMemLimitPercent of each container's memory limit,
// set once; the user's own GOMEMLIMIT replaces it.
func TestChartGoMemLimit(t *testing.T) {
	const webhookOn = "webhook: {enabled: true, secretName: s}"
	for _, tc := range []struct {
		name             string
		values           []string
		controller, hook string // "" means unset
	}{
		{"defaults: 90 percent of 512Mi and of 256Mi", []string{webhookOn}, "483183820", "241591910"},
		{"decimal units", []string{webhookOn, "resources: {limits: {cpu: 1, memory: 1G}}\ncontroller: {goMemLimitPercent: 75}"}, "750000000", "201326592"},
		{"plain bytes", []string{"resources: {limits: {cpu: 1, memory: \"1000000\"}}"}, "900000", ""},
		{"off", []string{webhookOn, "controller: {goMemLimitPercent: 0}"}, "", ""},
		{"the user's own", []string{webhookOn, "controller: {extraEnv: [{name: GOMEMLIMIT, value: 400MiB}]}"}, "400MiB", "241591910"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderChart(t, tc.values...)
			for name, want := range map[string]string{"corral": tc.controller, "corral-webhook": tc.hook} {
				obj := objs.get("Deployment", name)
				if obj == nil {
					continue
				}
				var got []string
				for _, e := range decode[appsv1.Deployment](t, obj).Spec.Template.Spec.Containers[0].Env {
					if e.Name == "GOMEMLIMIT" {
						got = append(got, e.Value)
					}
				}
				switch {
				case want == "" && len(got) > 0:
					t.Errorf("%s: GOMEMLIMIT %v, want none", name, got)
				case want != "" && (len(got) != 1 || got[0] != want):
					t.Errorf("%s: GOMEMLIMIT %v, want exactly one, %s", name, got, want)
				}
			}
		})
	}
}
