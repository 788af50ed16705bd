package runner

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

// psaGrade is the strictest Pod Security level pod satisfies (latest version), with the
// checks it fails at the next stricter one.
func psaGrade(t *testing.T, pod *corev1.Pod) (psaapi.Level, []policy.CheckResult) {
	t.Helper()
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatalf("creating the Pod Security evaluator: %v", err)
	}
	var stricter []policy.CheckResult // what failed the level above
	for _, level := range []psaapi.Level{psaapi.LevelRestricted, psaapi.LevelBaseline} {
		lv := psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}
		var failed []policy.CheckResult
		for _, r := range ev.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
			if !r.Allowed {
				failed = append(failed, r)
			}
		}
		if len(failed) == 0 {
			return level, stricter
		}
		stricter = failed
	}
	return psaapi.LevelPrivileged, stricter
}

func TestPodSecurityGrades(t *testing.T) {
	tests := []struct {
		name string
		pool *corralv1.RunnerPool
		want psaapi.Level
		// failing are the reasons that keep the pod from the next level, exactly.
		failing []string
	}{{
		name: "None is restricted",
		pool: gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone)),
		want: psaapi.LevelRestricted,
	}, {
		name: "None with Localhost profiles is restricted",
		pool: gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone),
			gen.WithSeccomp(corralv1.SeccompLocalhost, "x.json"), gen.WithAppArmor(corralv1.AppArmorLocalhost, "x")),
		want: psaapi.LevelRestricted,
	}, {
		name: "None with everything is restricted",
		pool: gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone), gen.WithUserNamespace(true),
			gen.WithCABundle("ca", ""), gen.WithProxy("http://p:1", "http://p:1")),
		want: psaapi.LevelRestricted,
	}, {
		name: "Podman Host with Localhost profiles is baseline",
		pool: gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost),
			gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile),
			gen.WithAppArmor(corralv1.AppArmorLocalhost, corralv1.DefaultAppArmorLocalhostProfile)),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name:    "Podman Host with defaults is baseline",
		pool:    gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost)),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name:    "Podman Host in a user namespace is baseline",
		pool:    gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost), gen.WithUserNamespace(true)),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name:    "Podman Isolated (defaults) is baseline",
		pool:    gen.RunnerPool("p"),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name:    "Podman Isolated with the tun hostPath (the seed's shape) is privileged",
		pool:    gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath)),
		want:    psaapi.LevelPrivileged,
		failing: []string{"forbidden AppArmor profile", "hostPath volumes", "seccompProfile"},
	}, {
		name: "Podman Isolated with the tun hostPath and Localhost profiles is privileged for the hostPath alone",
		pool: gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath), gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile),
			gen.WithAppArmor(corralv1.AppArmorLocalhost, corralv1.DefaultAppArmorLocalhostProfile)),
		want:    psaapi.LevelPrivileged,
		failing: []string{"hostPath volumes"},
	}, {
		name: "Podman Isolated with Localhost profiles and the tun device plugin is baseline",
		pool: gen.RunnerPool("p", gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile),
			gen.WithAppArmor(corralv1.AppArmorLocalhost, corralv1.DefaultAppArmorLocalhostProfile),
			gen.WithTunDevice(corralv1.TunDevicePlugin)),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name: "Podman Isolated with Localhost seccomp, runtime-default AppArmor and the tun device plugin is baseline",
		pool: gen.RunnerPool("p", gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile),
			gen.WithAppArmor(corralv1.AppArmorRuntimeDefault, ""), gen.WithTunDevice(corralv1.TunDevicePlugin)),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name:    "Podman Isolated with the tun device plugin and defaults is baseline",
		pool:    gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunDevicePlugin)),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name:    "Podman Isolated with the tun device plugin in a user namespace is baseline",
		pool:    gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunDevicePlugin), gen.WithUserNamespace(true)),
		want:    psaapi.LevelBaseline,
		failing: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"},
	}, {
		name: "Podman Isolated with the tun device plugin and Unconfined profiles asked for is privileged",
		pool: gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunDevicePlugin), gen.WithSeccomp(corralv1.SeccompUnconfined, ""),
			gen.WithAppArmor(corralv1.AppArmorUnconfined, "")),
		want:    psaapi.LevelPrivileged,
		failing: []string{"forbidden AppArmor profile", "seccompProfile"},
	}, {
		name:    "Podman Host with SELinux spc_t is privileged",
		pool:    gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost), gen.WithSELinuxType("spc_t")),
		want:    psaapi.LevelPrivileged,
		failing: []string{"seLinuxOptions"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, failing := psaGrade(t, buildTestPod(tt.pool))
			var reasons []string
			for _, f := range failing {
				reasons = append(reasons, f.ForbiddenReason)
			}
			if got != tt.want {
				t.Fatalf("Pod Security level = %s, want %s (failing the next level: %+v)", got, tt.want, failing)
			}
			if diff := cmp.Diff(tt.failing, reasons); diff != "" {
				t.Errorf("reasons failing the next level (-want +got):\n%s\n%+v", diff, failing)
			}
		})
	}
}
