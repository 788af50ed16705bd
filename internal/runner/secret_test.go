package runner

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

func TestBuildJITSecret(t *testing.T) {
	pool := gen.RunnerPool("builders", gen.WithNamespace("ci"))
	pod := buildTestPod(pool)
	pod.UID = types.UID("pod-uid-1")
	s := BuildJITSecret(pool, pod, "ZW5jb2RlZA==")

	if s.Name != testRunner+"-jit" || s.Name != JITSecretName(testRunner) || s.Namespace != "ci" {
		t.Errorf("secret is %s/%s, want ci/%s-jit", s.Namespace, s.Name, testRunner)
	}
	// The pod reads the Secret the builder names.
	if ref := pod.Spec.Containers[0].Env[0].ValueFrom.SecretKeyRef; ref.Name != s.Name || ref.Key != JITConfigKey {
		t.Errorf("pod reads %s/%s, secret is %s/%s", ref.Name, ref.Key, s.Name, JITConfigKey)
	}
	wantLabels := map[string]string{
		corralv1.LabelPool:      "builders",
		corralv1.LabelRunner:    testRunner,
		corralv1.LabelComponent: corralv1.ComponentJITConfig,
		corralv1.LabelManagedBy: corralv1.ManagedByValue,
	}
	if diff := cmp.Diff(wantLabels, s.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if s.Immutable == nil || !*s.Immutable {
		t.Error("the JIT Secret must be immutable")
	}
	if diff := cmp.Diff(map[string][]byte{"jitconfig": []byte("ZW5jb2RlZA==")}, s.Data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	if len(s.StringData) != 0 || len(s.Annotations) != 0 {
		t.Error("the JIT config must be held in data only, nowhere else")
	}
	if len(s.OwnerReferences) != 1 {
		t.Fatalf("owner references = %v, want the pod", s.OwnerReferences)
	}
	ref := s.OwnerReferences[0]
	if ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != testRunner || ref.UID != "pod-uid-1" || !*ref.Controller {
		t.Errorf("owner reference = %+v, want controller reference to the pod", ref)
	}
}
