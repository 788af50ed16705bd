package runner

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// JITSecretName is the name of a runner's JIT Secret: the runner name plus "-jit".
func JITSecretName(runnerName string) string {
	return runnerName + "-jit"
}

// BuildJITSecret returns the immutable Secret holding a runner's encoded JIT configuration
// under JITConfigKey and nothing else. It is labelled like its pod (component jit-config)
// and controlled by the runner pod, which must already exist (pod.UID set): the controller
// creates the pod, then the Secret, so garbage collection removes the Secret with its pod
// and no JIT Secret outlives its runner. The pod waits for the Secret before the runner
// container starts.
func BuildJITSecret(pool *corralv1.RunnerPool, pod *corev1.Pod, encodedJITConfig string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      JITSecretName(pod.Name),
			Namespace: pod.Namespace,
			Labels: map[string]string{
				corralv1.LabelPool:      pool.Name,
				corralv1.LabelRunner:    pod.Name,
				corralv1.LabelComponent: corralv1.ComponentJITConfig,
				corralv1.LabelManagedBy: corralv1.ManagedByValue,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1",
				Kind:       "Pod",
				Name:       pod.Name,
				UID:        pod.UID,
				Controller: ptr.To(true),
				// Not blocking: that would need update rights on pods/finalizers, and
				// nothing waits for the Secret when the pod goes.
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Immutable: ptr.To(true),
		Type:      corev1.SecretTypeOpaque,
		Data:      map[string][]byte{JITConfigKey: []byte(encodedJITConfig)},
	}
}
