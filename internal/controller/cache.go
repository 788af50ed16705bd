package controller

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// CacheByObject restricts the manager's cache to what the controller needs: only Corral's own
// pods and NetworkPolicies (clusters run many unrelated pods), and the metadata of the
// Secrets of the operator's namespace (the classes' credentials). No Secret of any other
// namespace is listed or watched, and no Secret data is ever cached.
func CacheByObject(operatorNamespace string) map[client.Object]cache.ByObject {
	managed := labels.SelectorFromSet(labels.Set{corralv1.LabelManagedBy: corralv1.ManagedByValue})
	out := map[client.Object]cache.ByObject{
		&corev1.Pod{}:                 {Label: managed},
		&networkingv1.NetworkPolicy{}: {Label: managed},
	}
	if operatorNamespace != "" { // "" would mean every namespace
		out[secretMetadata()] = cache.ByObject{Namespaces: map[string]cache.Config{operatorNamespace: {}}}
	}
	return out
}

// secretMetadata is the metadata-only form of a Secret the controller watches.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// namespaceMetadata is the metadata-only form of a Namespace the controller watches.
func namespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}
