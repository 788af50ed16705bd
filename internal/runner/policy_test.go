package runner

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

// testPools is a matrix of pools covering every sandbox mode and option.
func testPools() map[string]*corralv1.RunnerPool {
	pools := map[string]*corralv1.RunnerPool{}
	modes := map[string][]gen.PoolModifier{
		"podman-isolated": nil,
		"podman-host":     {gen.WithNetworking(corralv1.NestedNetworkingHost)},
		"podman-host-localhost": {gen.WithNetworking(corralv1.NestedNetworkingHost),
			gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile),
			gen.WithAppArmor(corralv1.AppArmorLocalhost, corralv1.DefaultAppArmorLocalhostProfile)},
		"podman-isolated-localhost": {gen.WithSeccomp(corralv1.SeccompLocalhost, ""), gen.WithAppArmor(corralv1.AppArmorLocalhost, "")},
		"podman-host-unconfined": {gen.WithNetworking(corralv1.NestedNetworkingHost),
			gen.WithSeccomp(corralv1.SeccompUnconfined, ""), gen.WithAppArmor(corralv1.AppArmorUnconfined, "")},
		"podman-selinux": {gen.WithSELinuxType("container_engine_t")},
		"podman-isolated-tun-plugin": {gen.WithTunDevice(corralv1.TunDevicePlugin),
			gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile)},
		"none": {gen.WithContainers(corralv1.ContainersNone)},
		"none-localhost": {gen.WithContainers(corralv1.ContainersNone), gen.WithSeccomp(corralv1.SeccompLocalhost, "x.json"),
			gen.WithAppArmor(corralv1.AppArmorLocalhost, "x")},
	}
	options := map[string][]gen.PoolModifier{
		"":        nil,
		"-userns": {gen.WithUserNamespace(true)},
		"-everything": {gen.WithUserNamespace(true), gen.WithProxy("http://p:3128", "http://p:3128", "10.0.0.0/8"),
			gen.WithCABundle("ca", "pem"), gen.WithEnv("X", "1"), gen.WithRuntimeClass("kata"),
			gen.WithWorkVolume("5Gi", corev1.StorageMediumMemory),
			gen.WithResources(corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("4")}})},
	}
	for m, mm := range modes {
		for o, om := range options {
			pools[m+o] = gen.RunnerPool("p", append(append([]gen.PoolModifier{}, mm...), om...)...)
		}
	}
	return pools
}

// TestBuiltPodsPassTheChain runs the hardening chain over the builder's output for every
// mode and option.
func TestBuiltPodsPassTheChain(t *testing.T) {
	for name, pool := range testPools() {
		t.Run(name, func(t *testing.T) {
			if v := Violations(pool, buildTestPod(pool)); len(v) > 0 {
				t.Errorf("built pod breaks the hardening policy: %+v", v)
			}
		})
	}
}

// TestChecksCatchViolations breaks one rule at a time in a built pod and expects exactly the
// matching violations.
func TestChecksCatchViolations(t *testing.T) {
	// podman is the seed's shape, with the tun hostPath, so the hostPath rules have a volume
	// to break; plugin is the default.
	podman := gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath))
	host := gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost))
	none := gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone))
	userns := gen.RunnerPool("p", gen.WithUserNamespace(true))
	plugin := gen.RunnerPool("p")
	init := func(p *corev1.Pod) *corev1.Container { return &p.Spec.InitContainers[0] }
	run := func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }

	tests := []struct {
		name   string
		pool   *corralv1.RunnerPool
		break_ func(*corev1.Pod)
		want   []string
	}{
		{"privileged runner", podman, func(p *corev1.Pod) { run(p).SecurityContext.Privileged = ptr.To(true) }, []string{ReasonPrivileged}},
		{"privileged ephemeral container", podman, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}
		}, []string{ReasonPrivileged, ReasonRelaxedOutsideRunner}},
		{"host network", podman, func(p *corev1.Pod) { p.Spec.HostNetwork = true }, []string{ReasonHostNamespace}},
		{"host pid", podman, func(p *corev1.Pod) { p.Spec.HostPID = true }, []string{ReasonHostNamespace}},
		{"host port", podman, func(p *corev1.Pod) { run(p).Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}} }, []string{ReasonHostPort}},
		{"hostPath other than tun", podman, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "etc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}})
		}, []string{ReasonHostPath}},
		{"tun without CharDevice type", podman, func(p *corev1.Pod) { p.Spec.Volumes[3].HostPath.Type = nil }, []string{ReasonHostPath}},
		{"tun in Host networking", host, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, BuildPod(podman, "x", "y").Spec.Volumes[3])
		}, []string{ReasonHostPath}},
		{"tun mounted by init", podman, func(p *corev1.Pod) {
			init(p).VolumeMounts = append(init(p).VolumeMounts, corev1.VolumeMount{Name: VolumeTun, MountPath: TunPath})
		}, []string{ReasonHostPath}},
		{"tun hostPath with the device plugin", plugin, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, BuildPod(podman, "x", "y").Spec.Volumes[3])
		}, []string{ReasonHostPath}},
		{"tun resource requested by init", plugin, func(p *corev1.Pod) { init(p).Resources = run(p).Resources }, []string{ReasonTunDevice}},
		{"tun resource with hostPath tun", podman, func(p *corev1.Pod) {
			run(p).Resources = BuildPod(plugin, "x", "y").Spec.Containers[0].Resources
		}, []string{ReasonTunDevice}},
		{"tun resource in None mode", none, func(p *corev1.Pod) {
			run(p).Resources = BuildPod(plugin, "x", "y").Spec.Containers[0].Resources
		}, []string{ReasonTunDevice}},
		{"two tun devices", plugin, func(p *corev1.Pod) {
			run(p).Resources.Limits[TunResource] = resource.MustParse("2")
			run(p).Resources.Requests[TunResource] = resource.MustParse("2")
		}, []string{ReasonTunDevice}},
		{"tun device only requested", plugin, func(p *corev1.Pod) { delete(run(p).Resources.Limits, TunResource) }, []string{ReasonTunDevice}},
		{"service account token", podman, func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = nil }, []string{ReasonServiceAccountToken}},
		{"projected token", podman, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t"}}}}}})
		}, []string{ReasonServiceAccountToken}},
		{"service links", podman, func(p *corev1.Pod) { p.Spec.EnableServiceLinks = ptr.To(true) }, []string{ReasonServiceLinks}},
		{"restart always", podman, func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyAlways }, []string{ReasonRestartPolicy}},
		{"runner without memory limit", podman, func(p *corev1.Pod) { delete(run(p).Resources.Limits, corev1.ResourceMemory) }, []string{ReasonLimitsMissing}},
		{"init without cpu limit", podman, func(p *corev1.Pod) { init(p).Resources.Limits = nil }, []string{ReasonLimitsMissing}},
		{"init as root", podman, func(p *corev1.Pod) { init(p).SecurityContext.RunAsUser = ptr.To(int64(0)) }, []string{ReasonRunsAsRoot}},
		{"runAsNonRoot off", podman, func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil }, []string{ReasonRunsAsRoot}},
		{"JIT as literal", podman, func(p *corev1.Pod) { run(p).Env[0] = corev1.EnvVar{Name: EnvJITConfig, Value: "secret"} }, []string{ReasonJITConfigExposed}},
		{"JIT wrong key", podman, func(p *corev1.Pod) { run(p).Env[0].ValueFrom.SecretKeyRef.Key = "other" }, []string{ReasonJITConfigExposed}},
		{"JIT missing", podman, func(p *corev1.Pod) { run(p).Env = run(p).Env[1:] }, []string{ReasonJITConfigExposed}},
		{"JIT in init", podman, func(p *corev1.Pod) { init(p).Env = []corev1.EnvVar{run(p).Env[0]} }, []string{ReasonJITConfigExposed}},
		{"JIT copied", podman, func(p *corev1.Pod) {
			run(p).Env = append(run(p).Env, corev1.EnvVar{Name: "X", Value: "$(" + EnvJITConfig + ")"})
		}, []string{ReasonJITConfigExposed}},
		{"envFrom", podman, func(p *corev1.Pod) {
			run(p).EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x-jit"}}}}
		}, []string{ReasonJITConfigExposed}},
		{"secret volume", podman, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "jit", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x-jit"}}})
		}, []string{ReasonJITConfigExposed}},
		{"pod-level seccomp unconfined", none, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined
		}, []string{ReasonRelaxedOutsideRunner, ReasonNoneModeRelaxed}},
		{"pod-level AppArmor unconfined", podman, func(p *corev1.Pod) {
			p.Spec.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}, []string{ReasonRelaxedOutsideRunner}},
		{"pod-level SELinux", podman, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t"}
		}, []string{ReasonRelaxedOutsideRunner}},
		{"AppArmor annotation on init", podman, func(p *corev1.Pod) {
			p.Annotations["container.apparmor.security.beta.kubernetes.io/init"] = "unconfined"
		}, []string{ReasonRelaxedOutsideRunner}},
		{"init adds a capability", podman, func(p *corev1.Pod) {
			init(p).SecurityContext.Capabilities.Add = []corev1.Capability{"SETUID"}
		}, []string{ReasonRelaxedOutsideRunner}},
		{"init escalates", podman, func(p *corev1.Pod) { init(p).SecurityContext.AllowPrivilegeEscalation = nil }, []string{ReasonRelaxedOutsideRunner}},
		{"init seccomp unconfined", podman, func(p *corev1.Pod) {
			init(p).SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, []string{ReasonRelaxedOutsideRunner}},
		{"runner adds NET_ADMIN", podman, func(p *corev1.Pod) {
			run(p).SecurityContext.Capabilities.Add = append(run(p).SecurityContext.Capabilities.Add, "NET_ADMIN")
		}, []string{ReasonCapabilities}},
		{"runner keeps default capabilities", podman, func(p *corev1.Pod) { run(p).SecurityContext.Capabilities.Drop = nil }, []string{ReasonCapabilities}},
		{"None runner adds SETUID", none, func(p *corev1.Pod) {
			run(p).SecurityContext.Capabilities.Add = PodmanCapabilities()
		}, []string{ReasonCapabilities, ReasonNoneModeRelaxed}},
		{"Host runner seccomp unconfined", host, func(p *corev1.Pod) {
			run(p).SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, []string{ReasonProfileLooserThanAsk}},
		{"Host runner other Localhost profile", host, func(p *corev1.Pod) {
			run(p).SecurityContext.SeccompProfile.LocalhostProfile = ptr.To("anything.json")
		}, []string{ReasonProfileLooserThanAsk}},
		{"Host runner AppArmor unconfined", host, func(p *corev1.Pod) {
			run(p).SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}, []string{ReasonProfileLooserThanAsk}},
		{"None runner escalates", none, func(p *corev1.Pod) { run(p).SecurityContext.AllowPrivilegeEscalation = ptr.To(true) }, []string{ReasonNoneModeRelaxed}},
		{"None runner writable root", none, func(p *corev1.Pod) { run(p).SecurityContext.ReadOnlyRootFilesystem = nil }, []string{ReasonNoneModeRelaxed}},
		{"None runner AppArmor unconfined", none, func(p *corev1.Pod) {
			run(p).SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}, []string{ReasonNoneModeRelaxed}},
		{"None runner SELinux", none, func(p *corev1.Pod) {
			run(p).SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t"}
		}, []string{ReasonNoneModeRelaxed}},
		{"sysctls", podman, func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
		}, []string{ReasonKernelSettings}},
		{"unmasked proc", podman, func(p *corev1.Pod) { run(p).SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount) }, []string{ReasonKernelSettings}},
		{"spc_t", podman, func(p *corev1.Pod) { run(p).SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"} }, []string{ReasonSELinux}},
		{"an SELinux role", podman, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t", Role: "system_r"}
		}, []string{ReasonRelaxedOutsideRunner, ReasonSELinux}},
		{"user namespace dropped", userns, func(p *corev1.Pod) { p.Spec.HostUsers = nil }, []string{ReasonUserNamespace}},
		{"no owner", podman, func(p *corev1.Pod) { p.OwnerReferences = nil }, []string{ReasonNotControlledByPool}},
		{"other pool's pod", podman, func(p *corev1.Pod) { p.OwnerReferences[0].UID = "someone-else" }, []string{ReasonNotControlledByPool}},
		{"no runner container", podman, func(p *corev1.Pod) { run(p).Name = "other" }, []string{ReasonHostPath, ReasonJITConfigExposed, ReasonRelaxedOutsideRunner, ReasonCapabilities}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := buildTestPod(tt.pool)
			tt.break_(pod)
			var got []string
			for _, v := range Violations(tt.pool, pod) {
				got = append(got, v.Reason)
				if v.Message == "" {
					t.Errorf("violation %s has no message", v.Reason)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s\n%+v", diff, Violations(tt.pool, pod))
			}
		})
	}
}

func TestChecksReturnsFreshChain(t *testing.T) {
	a := Checks()
	n := len(a)
	a[0] = nil
	b := Checks()
	if len(b) != n || b[0] == nil {
		t.Error("Checks must return a fresh slice each time")
	}
	if n < 15 {
		t.Errorf("the chain has %d checks, want the full policy", n)
	}
	// Every check passes on a good pod and speaks through Violation only when it fails.
	pool := gen.RunnerPool("p")
	pod := buildTestPod(pool)
	for i, c := range b {
		if reason, msg, bad := c(pool, pod); bad || reason != "" || msg != "" {
			t.Errorf("check %d on a good pod = (%q, %q, %t), want silence", i, reason, msg, bad)
		}
	}
}

func ExampleViolations() {
	pool := gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone))
	pod := BuildPod(pool, "p-abc123-x1y2z", JITSecretName("p-abc123-x1y2z"))
	pod.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	for _, v := range Violations(pool, pod) {
		fmt.Printf("%s: %s\n", v.Reason, v.Message)
	}
	// Output: NoneModeRelaxed: runner: allowPrivilegeEscalation must be false
}
