package runner

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

const testRunner = "builders-3f2a1c-x7k2p"

// buildTestPod builds the pod for testRunner of pool.
func buildTestPod(pool *corralv1.RunnerPool) *corev1.Pod {
	return BuildPod(pool, testRunner, JITSecretName(testRunner))
}

func TestBuildPodMetadata(t *testing.T) {
	pool := gen.RunnerPool("builders", gen.WithNamespace("ci"))
	pod := buildTestPod(pool)

	if pod.Name != testRunner || pod.Namespace != "ci" {
		t.Errorf("pod is %s/%s, want ci/%s", pod.Namespace, pod.Name, testRunner)
	}
	wantLabels := map[string]string{
		corralv1.LabelPool:      "builders",
		corralv1.LabelRunner:    testRunner,
		corralv1.LabelComponent: corralv1.ComponentRunner,
		corralv1.LabelManagedBy: corralv1.ManagedByValue,
	}
	if diff := cmp.Diff(wantLabels, pod.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	wantAnnotations := map[string]string{
		corralv1.AnnotationTemplateHash: TemplateHash(pool),
		AnnotationKarpenterDoNotDisrupt: "true",
		AnnotationSafeToEvict:           "false",
	}
	if diff := cmp.Diff(wantAnnotations, pod.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if len(pod.OwnerReferences) != 1 {
		t.Fatalf("owner references = %v, want one", pod.OwnerReferences)
	}
	ref := pod.OwnerReferences[0]
	if ref.Kind != "RunnerPool" || ref.APIVersion != "corral.run/v1alpha1" || ref.UID != pool.UID ||
		ref.Name != "builders" || ref.Controller == nil || !*ref.Controller {
		t.Errorf("owner reference = %+v, want controller reference to the pool", ref)
	}
	if diff := cmp.Diff([]string{corralv1.FinalizerRunner}, pod.Finalizers); diff != "" {
		t.Errorf("finalizers (-want +got):\n%s", diff)
	}
	for k, v := range pod.Labels {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q is not a valid label value: %v", k, v, errs)
		}
	}
}

func TestBuildPodHardenedSpec(t *testing.T) {
	for _, mode := range []corralv1.ContainersMode{corralv1.ContainersPodman, corralv1.ContainersNone} {
		t.Run(string(mode), func(t *testing.T) {
			pod := buildTestPod(gen.RunnerPool("p", gen.WithContainers(mode)))
			s := pod.Spec
			if s.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy = %s, want Never", s.RestartPolicy)
			}
			if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
				t.Error("automountServiceAccountToken must be false")
			}
			if s.EnableServiceLinks == nil || *s.EnableServiceLinks {
				t.Error("enableServiceLinks must be false")
			}
			if s.HostNetwork || s.HostPID || s.HostIPC {
				t.Error("pod must not use host namespaces")
			}
			if s.TerminationGracePeriodSeconds == nil || *s.TerminationGracePeriodSeconds < 60 {
				t.Errorf("terminationGracePeriodSeconds = %v, want at least 60s to report the job", s.TerminationGracePeriodSeconds)
			}
			if s.HostUsers != nil {
				t.Errorf("hostUsers = %v, want unset without userNamespace", *s.HostUsers)
			}
			ps := s.SecurityContext
			if *ps.RunAsUser != 1000 || *ps.RunAsGroup != 1000 || !*ps.RunAsNonRoot {
				t.Errorf("pod security context = %+v, want UID/GID 1000 and runAsNonRoot", ps)
			}
			if ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || ps.AppArmorProfile != nil {
				t.Errorf("pod-level profiles = %v / %v, want RuntimeDefault seccomp and no AppArmor", ps.SeccompProfile, ps.AppArmorProfile)
			}
			r := s.Containers[0]
			if r.Name != RunnerContainerName || len(s.Containers) != 1 || len(s.InitContainers) != 1 {
				t.Fatalf("containers = %d (%s), init = %d; want one runner and one init", len(s.Containers), r.Name, len(s.InitContainers))
			}
			if r.WorkingDir != RunnerHome {
				t.Errorf("workingDir = %q, want %q", r.WorkingDir, RunnerHome)
			}
			init := s.InitContainers[0]
			if init.Image != r.Image || init.ImagePullPolicy != r.ImagePullPolicy {
				t.Errorf("init container runs %s (%s), want the runner image %s (%s)", init.Image, init.ImagePullPolicy, r.Image, r.ImagePullPolicy)
			}
			if !equality.Semantic.DeepEqual(init.SecurityContext, confinedSecurityContext()) {
				t.Errorf("init security context = %+v, want fully confined", init.SecurityContext)
			}
		})
	}
}

// TestBuildPodModes pins what each sandbox mode relaxes on the runner container.
func TestBuildPodModes(t *testing.T) {
	unconfinedSeccomp := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	corralSeccomp := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To(corralv1.DefaultSeccompLocalhostProfile)}
	unconfinedAA := &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	corralAA := &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To(corralv1.DefaultAppArmorLocalhostProfile)}

	tests := []struct {
		name         string
		pool         *corralv1.RunnerPool
		seccomp      *corev1.SeccompProfile
		appArmor     *corev1.AppArmorProfile
		caps         []corev1.Capability
		escalation   bool
		readOnlyRoot bool
		volumes      []string
		command      []string
	}{{
		name:       "podman isolated (defaults: the tun device plugin, baseline profiles)",
		pool:       gen.RunnerPool("p"),
		seccomp:    corralSeccomp,
		caps:       []corev1.Capability{"SETUID", "SETGID"},
		escalation: true,
		volumes:    []string{VolumeHome, VolumeTmp, VolumeRun},
		command:    []string{"/bin/sh", "-c", RunnerScript()},
	}, {
		name:       "podman isolated with the tun hostPath (the seed's shape)",
		pool:       gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath)),
		seccomp:    unconfinedSeccomp,
		appArmor:   unconfinedAA,
		caps:       []corev1.Capability{"SETUID", "SETGID"},
		escalation: true,
		volumes:    []string{VolumeHome, VolumeTmp, VolumeRun, VolumeTun},
		command:    []string{"/bin/sh", "-c", RunnerScript()},
	}, {
		name:       "podman host (defaults)",
		pool:       gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost)),
		seccomp:    corralSeccomp,
		caps:       []corev1.Capability{"SETUID", "SETGID"},
		escalation: true,
		volumes:    []string{VolumeHome, VolumeTmp, VolumeRun},
		command:    []string{"/bin/sh", "-c", RunnerScript()},
	}, {
		name: "podman host with Localhost profiles",
		pool: gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost),
			gen.WithSeccomp(corralv1.SeccompLocalhost, "custom/podman.json"),
			gen.WithAppArmor(corralv1.AppArmorLocalhost, "")),
		seccomp:    &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("custom/podman.json")},
		appArmor:   corralAA,
		caps:       []corev1.Capability{"SETUID", "SETGID"},
		escalation: true,
		volumes:    []string{VolumeHome, VolumeTmp, VolumeRun},
		command:    []string{"/bin/sh", "-c", RunnerScript()},
	}, {
		name: "podman isolated, tun hostPath, with Localhost seccomp and RuntimeDefault AppArmor",
		pool: gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath), gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile),
			gen.WithAppArmor(corralv1.AppArmorRuntimeDefault, "")),
		seccomp:    corralSeccomp,
		caps:       []corev1.Capability{"SETUID", "SETGID"},
		escalation: true,
		volumes:    []string{VolumeHome, VolumeTmp, VolumeRun, VolumeTun},
		command:    []string{"/bin/sh", "-c", RunnerScript()},
	}, {
		name:         "none",
		pool:         gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone)),
		readOnlyRoot: true,
		volumes:      []string{VolumeHome, VolumeTmp},
		command:      []string{RunScript},
	}, {
		name: "none with Localhost profiles",
		pool: gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone),
			gen.WithSeccomp(corralv1.SeccompLocalhost, "strict.json"), gen.WithAppArmor(corralv1.AppArmorLocalhost, "strict")),
		seccomp:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("strict.json")},
		appArmor:     &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("strict")},
		readOnlyRoot: true,
		volumes:      []string{VolumeHome, VolumeTmp},
		command:      []string{RunScript},
	}, {
		name: "none never applies Unconfined, even past validation",
		pool: gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone),
			gen.WithSeccomp(corralv1.SeccompUnconfined, ""), gen.WithAppArmor(corralv1.AppArmorUnconfined, ""),
			gen.WithSELinuxType("container_engine_t")),
		readOnlyRoot: true,
		volumes:      []string{VolumeHome, VolumeTmp},
		command:      []string{RunScript},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := buildTestPod(tt.pool)
			r := pod.Spec.Containers[0]
			sc := r.SecurityContext
			if diff := cmp.Diff(tt.seccomp, sc.SeccompProfile); diff != "" {
				t.Errorf("seccomp (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.appArmor, sc.AppArmorProfile); diff != "" {
				t.Errorf("AppArmor (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.caps, sc.Capabilities.Add); diff != "" {
				t.Errorf("added capabilities (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]corev1.Capability{"ALL"}, sc.Capabilities.Drop); diff != "" {
				t.Errorf("dropped capabilities (-want +got):\n%s", diff)
			}
			if *sc.AllowPrivilegeEscalation != tt.escalation {
				t.Errorf("allowPrivilegeEscalation = %t, want %t", *sc.AllowPrivilegeEscalation, tt.escalation)
			}
			if got := sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem; got != tt.readOnlyRoot {
				t.Errorf("readOnlyRootFilesystem = %t, want %t", got, tt.readOnlyRoot)
			}
			if !tt.escalation && sc.SELinuxOptions != nil {
				t.Errorf("seLinuxOptions = %+v, want none in None mode", sc.SELinuxOptions)
			}
			var vols []string
			for _, v := range pod.Spec.Volumes {
				vols = append(vols, v.Name)
			}
			if diff := cmp.Diff(tt.volumes, vols); diff != "" {
				t.Errorf("volumes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.command, r.Command); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildPodVolumes(t *testing.T) {
	pod := buildTestPod(gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath), gen.WithWorkVolume("30Gi", corev1.StorageMediumMemory), gen.WithCABundle("corp-ca", "")))
	byName := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		byName[v.Name] = v
	}
	home := byName[VolumeHome].EmptyDir
	if home == nil || home.SizeLimit.Cmp(resource.MustParse("30Gi")) != 0 || home.Medium != corev1.StorageMediumMemory {
		t.Errorf("home volume = %+v, want a 30Gi memory emptyDir", home)
	}
	if tun := byName[VolumeTun].HostPath; tun == nil || tun.Path != "/dev/net/tun" || *tun.Type != corev1.HostPathCharDev {
		t.Errorf("tun volume = %+v, want hostPath /dev/net/tun CharDevice", tun)
	}
	if run := byName[VolumeRun].EmptyDir; run == nil || run.Medium != corev1.StorageMediumMemory || run.SizeLimit == nil {
		t.Errorf("run volume = %+v, want a bounded memory emptyDir", run)
	}
	ca := byName[VolumeCABundle].ConfigMap
	if ca == nil || ca.Name != "corp-ca" || len(ca.Items) != 1 || ca.Items[0].Key != "ca.crt" || ca.Items[0].Path != "ca.crt" {
		t.Errorf("CA volume = %+v, want ConfigMap corp-ca key ca.crt (the default key)", ca)
	}
	mounts := map[string]string{}
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	want := map[string]string{VolumeHome: RunnerHome, VolumeTmp: "/tmp", VolumeRun: "/var/run", VolumeTun: "/dev/net/tun", VolumeCABundle: CABundleDir}
	if diff := cmp.Diff(want, mounts); diff != "" {
		t.Errorf("runner mounts (-want +got):\n%s", diff)
	}
	initMounts := map[string]string{}
	for _, m := range pod.Spec.InitContainers[0].VolumeMounts {
		initMounts[m.Name] = m.MountPath
	}
	wantInit := map[string]string{VolumeHome: InitHomeDir, VolumeRun: InitRunDir, VolumeCABundle: CABundleDir}
	if diff := cmp.Diff(wantInit, initMounts); diff != "" {
		t.Errorf("init mounts (-want +got):\n%s", diff)
	}
	// Without a size in the pool (an object not defaulted by the API server), the CRD default.
	pool := gen.RunnerPool("p")
	pool.Spec.Sandbox.WorkVolume = corralv1.WorkVolume{}
	if got := buildTestPod(pool).Spec.Volumes[0].EmptyDir.SizeLimit; got.Cmp(resource.MustParse("20Gi")) != 0 {
		t.Errorf("default work volume size = %s, want 20Gi", got)
	}
}

// With tunDevice DevicePlugin the runner requests exactly one corral.run/tun and nothing
// mounts a hostPath; a tun resource in the pool's own resources (which the API refuses, e.g.
// a pool stored before that rule) reaches no container, whatever the quantity.
func TestBuildPodTunDevice(t *testing.T) {
	smuggled := gen.WithResources(corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{TunResource: resource.MustParse("5")},
		Requests: corev1.ResourceList{TunResource: resource.MustParse("5")},
	})
	tests := []struct {
		name       string
		pool       *corralv1.RunnerPool
		wantTun    bool // the runner requests one corral.run/tun
		wantVolume bool // the pod mounts the hostPath
	}{
		{"DevicePlugin (the default)", gen.RunnerPool("p"), true, false},
		{"HostPath", gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath)), false, true},
		{"DevicePlugin set", gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunDevicePlugin)), true, false},
		{"DevicePlugin with a smuggled quantity", gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunDevicePlugin), smuggled), true, false},
		{"the default with a smuggled quantity", gen.RunnerPool("p", smuggled), true, false},
		{"HostPath with a smuggled quantity", gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath), smuggled), false, true},
		{"None with a smuggled quantity", gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone), smuggled), false, false},
		{"Host networking ignores the plugin", gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost), gen.WithTunDevice(corralv1.TunDevicePlugin)), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := buildTestPod(tt.pool)
			hasVolume := false
			for _, v := range pod.Spec.Volumes {
				hasVolume = hasVolume || v.HostPath != nil
			}
			if hasVolume != tt.wantVolume {
				t.Errorf("hostPath volume: %t, want %t", hasVolume, tt.wantVolume)
			}
			for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
				limit, inLimits := c.Resources.Limits[TunResource]
				request, inRequests := c.Resources.Requests[TunResource]
				want := tt.wantTun && c.Name == RunnerContainerName
				if !want {
					if inLimits || inRequests {
						t.Errorf("container %s requests %s (%v/%v), want none", c.Name, TunResource, limit, request)
					}
					continue
				}
				if limit.Cmp(resource.MustParse("1")) != 0 || request.Cmp(resource.MustParse("1")) != 0 {
					t.Errorf("container %s: %s limit %v, request %v; want exactly 1", c.Name, TunResource, limit, request)
				}
			}
			if v := Violations(tt.pool, pod); len(v) > 0 {
				t.Errorf("built pod breaks the hardening policy: %+v", v)
			}
		})
	}
}

func TestBuildPodPoolFields(t *testing.T) {
	tol := corev1.Toleration{Key: "ci", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	aff := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"arm64"}},
		}}},
	}}}
	pool := gen.RunnerPool("p",
		gen.WithImage("registry.example/runner:1"),
		gen.WithNodeSelector(map[string]string{"pool": "ci"}),
		gen.WithTolerations(tol), gen.WithAffinity(aff), gen.WithPriorityClass("ci-low"),
		gen.WithRuntimeClass("kata"), gen.WithImagePullSecrets("regcred"), gen.WithUserNamespace(true),
		gen.WithSELinuxType("container_engine_t"))
	pod := buildTestPod(pool)
	s := pod.Spec
	if s.Containers[0].Image != "registry.example/runner:1" || s.InitContainers[0].Image != "registry.example/runner:1" {
		t.Errorf("images = %s / %s, want the pool's image in both containers", s.Containers[0].Image, s.InitContainers[0].Image)
	}
	if diff := cmp.Diff(map[string]string{"pool": "ci"}, s.NodeSelector); diff != "" {
		t.Errorf("nodeSelector (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]corev1.Toleration{tol}, s.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(aff, s.Affinity); diff != "" {
		t.Errorf("affinity (-want +got):\n%s", diff)
	}
	if s.PriorityClassName != "ci-low" || s.RuntimeClassName == nil || *s.RuntimeClassName != "kata" {
		t.Errorf("priorityClassName %q, runtimeClassName %v; want ci-low and kata", s.PriorityClassName, s.RuntimeClassName)
	}
	if diff := cmp.Diff([]corev1.LocalObjectReference{{Name: "regcred"}}, s.ImagePullSecrets); diff != "" {
		t.Errorf("imagePullSecrets (-want +got):\n%s", diff)
	}
	if s.HostUsers == nil || *s.HostUsers {
		t.Error("userNamespace: hostUsers must be false")
	}
	if se := s.Containers[0].SecurityContext.SELinuxOptions; se == nil || se.Type != "container_engine_t" {
		t.Errorf("runner seLinuxOptions = %+v, want type container_engine_t", se)
	}
	if s.InitContainers[0].SecurityContext.SELinuxOptions != nil || s.SecurityContext.SELinuxOptions != nil {
		t.Error("SELinux options must be set on the runner container only")
	}

	// The pod shares nothing with the pool: changing it leaves the pool alone.
	s.NodeSelector["pool"] = "changed"
	s.Tolerations[0].Key = "changed"
	s.Affinity.NodeAffinity = nil
	*s.RuntimeClassName = "changed"
	s.Containers[0].SecurityContext.SELinuxOptions.Type = "changed"
	if pool.Spec.Template.NodeSelector["pool"] != "ci" || pool.Spec.Template.Tolerations[0].Key != "ci" ||
		pool.Spec.Template.Affinity.NodeAffinity == nil || *pool.Spec.Sandbox.RuntimeClassName != "kata" ||
		pool.Spec.Sandbox.SELinuxOptions.Type != "container_engine_t" {
		t.Error("changing the built pod changed the pool")
	}
}

func TestBuildPodIsPure(t *testing.T) {
	pool := gen.RunnerPool("p", gen.WithEnv("A", "1"), gen.WithProxy("http://proxy:3128", "", "10.0.0.0/8"))
	before := pool.DeepCopy()
	a, b := buildTestPod(pool), buildTestPod(pool)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two builds differ (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(before, pool); diff != "" {
		t.Errorf("building changed the pool (-before +after):\n%s", diff)
	}
}
