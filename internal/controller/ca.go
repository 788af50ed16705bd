package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/runnerclass"
)

// ensureCABundle copies the class's CA bundle (in the operator's namespace) into the
// ConfigMap of the pool's namespace its runners mount, before any runner needs it. A
// class-less pool mounts its own ConfigMap. A missing or unusable bundle refuses the pool.
func (r *RunnerPoolReconciler) ensureCABundle(ctx context.Context, pool *corralv1.RunnerPool, cv *classView) error {
	if cv.class == nil || cv.class.Spec.GitHub.CABundle == nil || cv.refusal != nil {
		return nil
	}
	ref := cv.class.Spec.GitHub.CABundle
	pem, err := r.caBundle(ctx, types.NamespacedName{Namespace: r.OperatorNamespace, Name: ref.Name}, ref.Key)
	if err != nil {
		if forge.KindOf(err) == forge.KindTransient {
			return err
		}
		cv.refusal = stall(corralv1.ReasonConfigInvalid, "RunnerClass %s: %v", cv.class.Name, err)
		return nil
	}
	want := caConfigMap(pool, string(pem))
	have := &corev1.ConfigMap{}
	err = r.APIReader.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: want.Name}, have)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, want); err != nil {
			return fmt.Errorf("creating CA bundle ConfigMap %s: %w", want.Name, err)
		}
	case err != nil:
		return fmt.Errorf("reading CA bundle ConfigMap %s: %w", want.Name, err)
	case !metav1.IsControlledBy(have, pool):
		cv.refusal = stall(corralv1.ReasonConfigInvalid, "ConfigMap %s/%s exists and is not Corral's: Corral copies the class's CA bundle there; rename or remove it", pool.Namespace, want.Name)
	case !equality.Semantic.DeepEqual(have.Data, want.Data):
		have.Data = want.Data
		if err := r.Client.Update(ctx, have); err != nil {
			return fmt.Errorf("updating CA bundle ConfigMap %s: %w", want.Name, err)
		}
	}
	return nil
}

// caConfigMap is the pool's copy of its class's CA bundle, owned by the pool.
func caConfigMap(pool *corralv1.RunnerPool, pem string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      runnerclass.CABundleConfigMap(pool),
			Namespace: pool.Namespace,
			Labels:    map[string]string{corralv1.LabelPool: pool.Name, corralv1.LabelManagedBy: corralv1.ManagedByValue},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: corralv1.GroupVersion.String(), Kind: "RunnerPool", Name: pool.Name, UID: pool.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Data: map[string]string{runnerclass.CABundleKey: pem},
	}
}
