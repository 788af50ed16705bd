package controller

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/netpol"
)

// ensureNetworkPolicies creates the pool's NetworkPolicies, or updates them in place when the
// pool's network spec changed. It runs before any runner pod is created.
func (r *RunnerPoolReconciler) ensureNetworkPolicies(ctx context.Context, pool *corralv1.RunnerPool) error {
	for _, want := range netpol.Build(pool) {
		have := &networkingv1.NetworkPolicy{}
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have)
		switch {
		case apierrors.IsNotFound(err):
			if err := r.Client.Create(ctx, want); err != nil {
				return fmt.Errorf("creating NetworkPolicy %s: %w", want.Name, err)
			}
		case err != nil:
			return fmt.Errorf("reading NetworkPolicy %s: %w", want.Name, err)
		case !equality.Semantic.DeepEqual(have.Spec, want.Spec) || !equality.Semantic.DeepEqual(have.Labels, want.Labels):
			have.Spec = want.Spec
			have.Labels = want.Labels
			if err := r.Client.Update(ctx, have); err != nil {
				return fmt.Errorf("updating NetworkPolicy %s: %w", want.Name, err)
			}
		}
	}
	return nil
}
