package controller

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
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
		&corev1.Pod{}:                 {Label: managed, Transform: slimPod},
		&networkingv1.NetworkPolicy{}: {Label: managed},
		&corev1.Node{}:                {Transform: slimNode},
	}
	if operatorNamespace != "" { // "" would mean every namespace
		out[secretMetadata()] = cache.ByObject{Namespaces: map[string]cache.Config{operatorNamespace: {}}}
	}
	return out
}

// DefaultTransform is the transform of every other cached object: managedFields are never
// read, and on a pod they are about half of its size.
func DefaultTransform() toolscache.TransformFunc { return cache.TransformStripManagedFields() }

// slimPod is how a runner pod is cached: its metadata without managedFields, and only the
// status the controller reads (phase, conditions, container names and states). The spec is
// never read from the cache (a pod is built from its pool, checked before it is created, and
// only ever merge-patched in its metadata), so the cache keeps a fifth of a pod's bytes.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone, say: left as it is
	}
	slim := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: pod.ObjectMeta}
	slim.ManagedFields = nil
	slim.Status.Phase = pod.Status.Phase
	for _, c := range pod.Status.Conditions {
		slim.Status.Conditions = append(slim.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
	}
	for _, cs := range pod.Status.ContainerStatuses {
		slim.Status.ContainerStatuses = append(slim.Status.ContainerStatuses, corev1.ContainerStatus{Name: cs.Name, State: cs.State})
	}
	return slim, nil
}

// slimNode is how a Node is cached: its name and addresses, which the Internet egress mode
// excepts (netpol.NodeExceptions); nothing else of a node is read, and its status (images,
// conditions) is most of its size.
func slimNode(obj any) (any, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Node{TypeMeta: node.TypeMeta}
	slim.Name, slim.UID, slim.ResourceVersion = node.Name, node.UID, node.ResourceVersion
	slim.Status.Addresses = node.Status.Addresses
	return slim, nil
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
