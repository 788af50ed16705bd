package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	corev1 "k8s.io/api/core/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// hashSecretName stands in for the per-runner Secret name when hashing, so that every
// runner of the same template hashes alike.
const hashSecretName = "runner-jit"

// TemplateHash identifies what a runner built from pool looks like: a hash of the pod spec the
// builder makes (so it covers the template, the sandbox, the proxy and CA bundle, and changes
// of the builder itself after an upgrade) plus the registration settings that live in the JIT
// configuration rather than the pod (labels, in any order, and runner group). minIdle,
// maxRunners and the network policy do not change it. The controller compares it with a pod's
// corral.run/template-hash annotation to replace outdated idle runners.
func TemplateHash(pool *corralv1.RunnerPool) string {
	in := struct {
		Spec        corev1.PodSpec `json:"spec"`
		Labels      []string       `json:"labels,omitempty"`
		RunnerGroup string         `json:"runnerGroup,omitempty"`
	}{
		Spec:        buildPodSpec(pool, hashSecretName),
		Labels:      slices.Sorted(slices.Values(pool.Spec.Labels)),
		RunnerGroup: pool.Spec.RunnerGroup,
	}
	// Marshalling API types cannot fail: they have no channels, funcs or cyclic values.
	data, _ := json.Marshal(in)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
