// Package controller reconciles RunnerPools into NetworkPolicies, runner pods and their
// GitHub registrations.
package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// RunnerPoolReconciler reconciles a RunnerPool.
type RunnerPoolReconciler struct {
	Client client.Client
}

// +kubebuilder:rbac:groups=corral.run,resources=runnerpools,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/finalizers,verbs=update

// Reconcile brings one RunnerPool towards its desired state.
func (r *RunnerPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pool := &corralv1.RunnerPool{}
	if err := r.Client.Get(ctx, req.NamespacedName, pool); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log.FromContext(ctx).V(1).Info("reconciling pool")
	patch := client.MergeFrom(pool.DeepCopy())
	meta.SetStatusCondition(&pool.Status.Conditions, metav1.Condition{
		Type: corralv1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: corralv1.ReasonScaling, Message: "waiting for runners", ObservedGeneration: pool.Generation,
	})
	pool.Status.ObservedGeneration = pool.Generation
	if err := r.Client.Status().Patch(ctx, pool, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("writing status: %w", err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler with mgr.
func (r *RunnerPoolReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrency int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&corralv1.RunnerPool{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrency}).
		Complete(r)
}
