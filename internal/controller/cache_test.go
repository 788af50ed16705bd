package controller

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

// TestSlimPod: the cached form of a runner pod is much smaller, has no spec and no
// managedFields, and every decision read from it equals the one read from the full pod.
func TestSlimPod(t *testing.T) {
	pool := gen.RunnerPool("p")
	now := time.Now()
	finished := metav1.NewTime(now.Add(-time.Minute))
	full := runner.BuildPod(pool, "p-abcde", "p-abcde-jit")
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "corral", Operation: metav1.ManagedFieldsOperationUpdate,
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{}},"f:spec":{"f:containers":{}}}`)}}}
	full.Annotations["corral.run/busy"] = "claimed"
	full.Status = corev1.PodStatus{
		Phase:    corev1.PodFailed,
		HostIP:   "10.0.0.1",
		PodIP:    "10.244.0.7",
		QOSClass: corev1.PodQOSBurstable,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 Insufficient cpu.", LastTransitionTime: finished}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: runner.RunnerContainerName, Image: "runner:1", ImageID: "sha256:x", ContainerID: "containerd://y",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 7, FinishedAt: finished}}}},
	}
	out, err := slimPod(full.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.Pod)
	if !equality.Semantic.DeepEqual(slim.Spec, corev1.PodSpec{}) {
		t.Errorf("the cached pod keeps its spec: %+v", slim.Spec)
	}
	if slim.ManagedFields != nil {
		t.Errorf("the cached pod keeps managedFields")
	}
	full.ManagedFields = nil
	if !equality.Semantic.DeepEqual(slim.ObjectMeta, full.ObjectMeta) {
		t.Errorf("metadata changed:\n got %+v\nwant %+v", slim.ObjectMeta, full.ObjectMeta)
	}
	fullPod, slimRP := runnerPod{pod: full}, runnerPod{pod: slim}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"exit code", exitCode(slim), exitCode(full)},
		{"finished at", slimRP.finishedAt(now), fullPod.finishedAt(now)},
		{"stuck reason", stuckReason(slim), stuckReason(full)},
		{"stuck message", stuckMessage(&slimRP, Options{}), stuckMessage(&fullPod, Options{})},
		{"phase", slim.Status.Phase, full.Status.Phase},
	} {
		if c.got != c.want {
			t.Errorf("%s read from the cached pod: %v, from the full pod: %v", c.what, c.got, c.want)
		}
	}
	fb, _ := json.Marshal(full)
	sb, _ := json.Marshal(slim)
	if len(sb)*2 > len(fb) {
		t.Errorf("the cached pod is %d bytes of the full pod's %d: expected under half", len(sb), len(fb))
	}
	t.Logf("full pod %d bytes (without managedFields), cached %d", len(fb), len(sb))
	if got, _ := slimPod("tombstone"); got != "tombstone" {
		t.Errorf("a non-pod is changed: %v", got)
	}
}
