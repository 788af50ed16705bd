package harness

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// RunnerPods lists pool's runner pods (by its pool and component labels), sorted by name.
func RunnerPods(ctx context.Context, c client.Reader, pool *corralv1.RunnerPool) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(pool.Namespace), client.MatchingLabels{
		corralv1.LabelPool: pool.Name, corralv1.LabelComponent: corralv1.ComponentRunner,
	}); err != nil {
		return nil, fmt.Errorf("listing the runner pods of %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	return pods.Items, nil
}

// Running keeps the pods that run and are not being deleted.
func Running(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

// PodNames are the names of pods, sorted.
func PodNames(pods []corev1.Pod) []string {
	out := make([]string, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}
