package controller

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// CacheByObject restricts the manager's cache to what the controller needs: only Corral's own
// pods and NetworkPolicies (clusters run many unrelated pods). Secrets are watched as metadata
// only (see SetupWithManager), so no Secret data is ever cached.
func CacheByObject() map[client.Object]cache.ByObject {
	managed := labels.SelectorFromSet(labels.Set{corralv1.LabelManagedBy: corralv1.ManagedByValue})
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}:                 {Label: managed},
		&networkingv1.NetworkPolicy{}: {Label: managed},
	}
}
