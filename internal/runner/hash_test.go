package runner

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

func TestTemplateHash(t *testing.T) {
	base := TemplateHash(gen.RunnerPool("p", gen.WithLabels("linux", "arm64")))
	if len(base) != 16 {
		t.Errorf("hash %q has %d characters, want 16", base, len(base))
	}
	same := map[string]gen.PoolModifier{
		"minIdle":      gen.WithMinIdle(5),
		"maxRunners":   gen.WithMaxRunners(50),
		"egress":       gen.WithEgress(corralv1.EgressNone),
		"allow rule":   gen.WithAllowCIDR("10.0.0.0/24", 443),
		"label order":  gen.WithLabels("arm64", "linux"),
		"namespace":    gen.WithNamespace("other"),
		"credentials":  gen.WithCredentials("other-app"),
		"pool UID":     gen.WithUID("11111111-2222-3333-4444-555555555555"),
		"image (same)": gen.WithImage("ghcr.io/corral-run/runner:2.330.0"),
	}
	for name, mod := range same {
		if got := TemplateHash(gen.RunnerPool("p", gen.WithLabels("linux", "arm64"), mod)); got != base {
			t.Errorf("%s changed the hash (%s -> %s), but not the pod", name, base, got)
		}
	}
	different := map[string]gen.PoolModifier{
		"image":        gen.WithImage("ghcr.io/corral-run/runner:2.331.0"),
		"containers":   gen.WithContainers(corralv1.ContainersNone),
		"networking":   gen.WithNetworking(corralv1.NestedNetworkingHost),
		"seccomp":      gen.WithSeccomp(corralv1.SeccompLocalhost, "custom/podman.json"),
		"tun device":   gen.WithTunDevice(corralv1.TunHostPath),
		"userns":       gen.WithUserNamespace(true),
		"work volume":  gen.WithWorkVolume("40Gi", ""),
		"env":          gen.WithEnv("A", "1"),
		"resources":    gen.WithResources(corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("3")}}),
		"nodeSelector": gen.WithNodeSelector(map[string]string{"a": "b"}),
		"proxy":        gen.WithProxy("http://proxy:3128", ""),
		"CA bundle":    gen.WithCABundle("ca", ""),
		"labels":       gen.WithLabels("linux", "arm64", "gpu"),
		"runner group": gen.WithRunnerGroup("builders"),
	}
	for name, mod := range different {
		if got := TemplateHash(gen.RunnerPool("p", gen.WithLabels("linux", "arm64"), mod)); got == base {
			t.Errorf("%s did not change the hash", name)
		}
	}
	if TemplateHash(gen.RunnerPool("a")) != TemplateHash(gen.RunnerPool("b")) {
		t.Error("two pools with the same template must hash alike")
	}
}
