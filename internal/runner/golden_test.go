package runner

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenPools are representative pools whose runner pods are pinned in testdata/.
func goldenPools() map[string]*corralv1.RunnerPool {
	return map[string]*corralv1.RunnerPool{
		"podman-isolated": gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithLabels("linux", "podman")),
		"podman-isolated-hostpath": gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithLabels("linux", "podman"),
			gen.WithTunDevice(corralv1.TunHostPath)),
		"podman-host": gen.RunnerPool("builders", gen.WithNamespace("ci"),
			gen.WithNetworking(corralv1.NestedNetworkingHost),
			gen.WithAppArmor(corralv1.AppArmorLocalhost, corralv1.DefaultAppArmorLocalhostProfile)),
		"podman-host-userns": gen.RunnerPool("builders", gen.WithNamespace("ci"),
			gen.WithNetworking(corralv1.NestedNetworkingHost), gen.WithUserNamespace(true)),
		"none": gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithContainers(corralv1.ContainersNone)),
		"everything": gen.RunnerPool("builders", gen.WithNamespace("ci"),
			gen.WithImage("ghes.example.com:5000/ci/runner:2.330.0"),
			gen.WithProxy("http://proxy.corp:3128", "http://proxy.corp:3128", "10.0.0.0/8", ".svc", "ghes.example.com"),
			gen.WithCABundle("corp-ca", "ca.pem"),
			gen.WithEnv("RUNNER_TOOL_CACHE", "/home/runner/toolcache"),
			gen.WithResources(corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("8"), "memory": resource.MustParse("16Gi")}}),
			gen.WithNodeSelector(map[string]string{"kubernetes.io/arch": "arm64"}),
			gen.WithTolerations(corev1.Toleration{Key: "ci", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}),
			gen.WithPriorityClass("ci-low"), gen.WithRuntimeClass("kata"), gen.WithImagePullSecrets("regcred"),
			gen.WithSELinuxType("container_engine_t"), gen.WithWorkVolume("50Gi", corev1.StorageMediumMemory)),
	}
}

func TestGoldenPods(t *testing.T) {
	for name, pool := range goldenPools() {
		t.Run(name, func(t *testing.T) {
			got, err := yaml.Marshal(buildTestPod(pool))
			if err != nil {
				t.Fatalf("marshalling the pod: %v", err)
			}
			checkGolden(t, filepath.Join("testdata", name+".golden.yaml"), got)
		})
	}
}

// checkGolden compares got with the golden file at path, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run go test -update to create it): %v", path, err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); run go test -update if the change is intended:\n%s", path, diff)
	}
}
