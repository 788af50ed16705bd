package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// reconcileDelete drains a pool being deleted: idle and pending runners are deregistered and
// removed at once, busy ones finish their job first; then the pool's finalizer is released.
// When GitHub cannot be reached with the pool's credentials (e.g. the namespace is being
// deleted and the Secret went first), runners are released after DrainTimeout with a warning:
// a namespace deletion never hangs forever, and GitHub removes offline ephemeral runners
// itself after a day.
func (r *RunnerPoolReconciler) reconcileDelete(ctx context.Context, s *reconcileState) (ctrl.Result, error) {
	s.blocked = condition(corralv1.ConditionScalingBlocked, corralv1.ReasonDeleting, "the pool is being deleted; draining its runners")
	if !controllerutil.ContainsFinalizer(s.pool, corralv1.FinalizerPool) {
		return ctrl.Result{}, nil
	}
	expired := r.drainExpired(s.pool.DeletionTimestamp, s)
	if err := r.releaseDeleting(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	remaining := 0
	for _, rp := range s.runners {
		if rp.state == stateDeleting {
			if controllerutil.ContainsFinalizer(rp.pod, corralv1.FinalizerRunner) {
				remaining++
			}
			continue
		}
		if rp.state == stateBusy && !expired {
			remaining++
			continue
		}
		if err := r.drainRunner(ctx, s, rp, expired); err != nil {
			if !expired {
				remaining++
				s.requeueAfter(r.Options.BusyRecheck)
				continue
			}
			return ctrl.Result{}, err
		}
	}
	if remaining > 0 {
		s.requeueAfter(r.Options.BusyRecheck)
		return ctrl.Result{RequeueAfter: s.requeue}, nil
	}
	patch := client.MergeFrom(s.pool.DeepCopy())
	controllerutil.RemoveFinalizer(s.pool, corralv1.FinalizerPool)
	if err := r.Client.Patch(ctx, s.pool, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("releasing pool finalizer: %w", err)
	}
	r.memory.forget(s.pool.UID)
	return ctrl.Result{}, nil
}

// drainRunner removes one runner of a pool being deleted; once the drain expired it removes
// the pod without deregistering.
func (r *RunnerPoolReconciler) drainRunner(ctx context.Context, s *reconcileState, rp runnerPod, expired bool) error {
	if expired {
		r.event(s.pool, corev1.EventTypeWarning, "DeregistrationAbandoned",
			"removed runner %s without deregistering it: the pool's drain exceeded %s", rp.name(), r.Options.DrainTimeout)
		return r.removePod(ctx, rp.pod)
	}
	if rp.state == stateFinished && exitCode(rp.pod) == 0 {
		return r.removePod(ctx, rp.pod) // GitHub removed it after its job
	}
	removed, err := r.removeRunner(ctx, s, rp)
	if err != nil {
		return err
	}
	if !removed {
		return fmt.Errorf("runner %s is busy", rp.name())
	}
	return nil
}
