package runner

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/corral-run/corral/test/gen"
)

func TestRunnerResources(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name                   string
		in                     corev1.ResourceRequirements
		cpuLimit, memLimit     string
		cpuRequest, memRequest string
	}{{
		name:     "nothing given: defaults",
		cpuLimit: "2", memLimit: "4Gi", cpuRequest: "500m", memRequest: "1Gi",
	}, {
		name:     "all given: kept",
		in:       corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("4"), "memory": q("8Gi")}, Requests: corev1.ResourceList{"cpu": q("1"), "memory": q("2Gi")}},
		cpuLimit: "4", memLimit: "8Gi", cpuRequest: "1", memRequest: "2Gi",
	}, {
		name:     "limits only: requests equal limits",
		in:       corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("250m"), "memory": q("16Gi")}},
		cpuLimit: "250m", memLimit: "16Gi", cpuRequest: "250m", memRequest: "16Gi",
	}, {
		name:     "requests only: default limits, raised to the requests",
		in:       corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("8"), "memory": q("512Mi")}},
		cpuLimit: "8", memLimit: "4Gi", cpuRequest: "8", memRequest: "512Mi",
	}, {
		name:     "cpu limit only: memory defaulted",
		in:       corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("3")}},
		cpuLimit: "3", memLimit: "4Gi", cpuRequest: "3", memRequest: "1Gi",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in.DeepCopy()
			got := runnerResources(tt.in)
			check := func(what string, list corev1.ResourceList, name corev1.ResourceName, want string) {
				if v := list[name]; v.Cmp(q(want)) != 0 {
					t.Errorf("%s %s = %s, want %s", what, name, v.String(), want)
				}
			}
			check("limit", got.Limits, corev1.ResourceCPU, tt.cpuLimit)
			check("limit", got.Limits, corev1.ResourceMemory, tt.memLimit)
			check("request", got.Requests, corev1.ResourceCPU, tt.cpuRequest)
			check("request", got.Requests, corev1.ResourceMemory, tt.memRequest)
			if in.String() != tt.in.String() {
				t.Error("runnerResources changed its input")
			}
		})
	}
}

func TestRunnerResourcesPassThroughOthers(t *testing.T) {
	in := corev1.ResourceRequirements{Limits: corev1.ResourceList{"ephemeral-storage": resource.MustParse("50Gi")}}
	pod := buildTestPod(gen.RunnerPool("p", gen.WithResources(in)))
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if v := c.Resources.Limits["ephemeral-storage"]; v.Cmp(resource.MustParse("50Gi")) != 0 {
			t.Errorf("container %q ephemeral-storage limit = %s, want 50Gi", c.Name, v.String())
		}
		if _, ok := c.Resources.Limits[corev1.ResourceCPU]; !ok {
			t.Errorf("container %q has no CPU limit", c.Name)
		}
	}
}
