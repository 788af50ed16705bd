// Package runnerclass decides what a RunnerClass allows: whether a namespace may use it,
// the ways a pool breaks it, and the pool as the builders must see it with the class's
// settings applied. Everything here is pure; the controller runs it before every creation
// and the ValidatingAdmissionPolicy shipped with Corral enforces the same rules at
// admission where CEL can express them.
package runnerclass

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Violation is one way a pool breaks its class.
type Violation struct {
	// Field is the pool's field at fault, e.g. spec.sandbox.seccompProfile.
	Field string
	// Message says what is wrong and what the class allows.
	Message string
}

func (v Violation) String() string { return v.Field + ": " + v.Message }

// Summary joins violations into one condition message: the first few, and how many more.
func Summary(class string, vs []Violation) string {
	const shown = 3
	parts := make([]string, 0, shown)
	for i, v := range vs {
		if i == shown {
			break
		}
		parts = append(parts, v.String())
	}
	msg := fmt.Sprintf("the pool breaks RunnerClass %s: %s", class, strings.Join(parts, "; "))
	if len(vs) > shown {
		msg += fmt.Sprintf(" (and %d more)", len(vs)-shown)
	}
	return msg
}

// Admits reports whether class may be used by pools of a namespace with these labels.
func Admits(class *corralv1.RunnerClass, nsLabels map[string]string) (bool, error) {
	sel, err := metav1.LabelSelectorAsSelector(&class.Spec.NamespaceSelector)
	if err != nil {
		return false, fmt.Errorf("RunnerClass %s: namespaceSelector: %w", class.Name, err)
	}
	return sel.Matches(labels.Set(nsLabels)), nil
}

// CABundleConfigMap is the ConfigMap, in the pool's namespace, into which the controller
// copies the class's CA bundle for the pool's runners to mount (a pod can only mount a
// ConfigMap of its own namespace; the class's lives in the operator's).
func CABundleConfigMap(pool *corralv1.RunnerPool) string { return pool.Name + "-corral-ca" }

// CABundleKey is the key of the CA bundle in CABundleConfigMap.
const CABundleKey = "ca.crt"

// Effective is pool as the builders must see it when it belongs to class: the class's
// proxy, CA bundle (copied into CABundleConfigMap) and DNS, and the class's nodeSelector
// added to the pool's. Without a class it is pool unchanged.
func Effective(pool *corralv1.RunnerPool, class *corralv1.RunnerClass) *corralv1.RunnerPool {
	if class == nil {
		return pool
	}
	out := pool.DeepCopy()
	gh := class.Spec.GitHub
	out.Spec.GitHub.Proxy = gh.Proxy.DeepCopy()
	out.Spec.GitHub.CABundle = nil
	if gh.CABundle != nil {
		out.Spec.GitHub.CABundle = &corralv1.ConfigMapKeyRef{Name: CABundleConfigMap(pool), Key: CABundleKey}
	}
	if dns := class.Spec.Network.DNS; dns != nil {
		out.Spec.Network.DNS = *dns.DeepCopy()
		if out.Spec.Network.DNS.Namespace == "" {
			out.Spec.Network.DNS.Namespace = defaultDNSNamespace
		}
	}
	if len(class.Spec.Scheduling.NodeSelector) > 0 {
		if out.Spec.Template.NodeSelector == nil {
			out.Spec.Template.NodeSelector = map[string]string{}
		}
		for k, v := range class.Spec.Scheduling.NodeSelector {
			out.Spec.Template.NodeSelector[k] = v
		}
	}
	return out
}

// defaultDNSNamespace is the CRD's default for spec.network.dns.namespace.
const defaultDNSNamespace = "kube-system"

// RunnerGroups are the runner groups the class allows, with the default.
func RunnerGroups(class *corralv1.RunnerClass) []string {
	if len(class.Spec.GitHub.RunnerGroups) == 0 {
		return []string{"Default"}
	}
	return class.Spec.GitHub.RunnerGroups
}
