package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// computeStatus derives the pool's status from what the reconcile saw, planned and did.
// Pure. observedGeneration moves only when the reconcile succeeded.
func computeStatus(o *observation, p plan, out outcome) *corralv1.RunnerPoolStatus {
	pool := o.pool
	st := pool.Status.DeepCopy()
	st.History = nextHistory(o, p, out)
	runners := append([]runnerPod(nil), p.runners...)
	for i := range runners {
		if out.busy[runners[i].name()] {
			runners[i].state = stateBusy
		}
	}
	c := countRunners(runners)
	st.Runners, st.Idle, st.Busy, st.Pending, st.Queued = c.active(), c.idle, c.busy, c.pending, o.demand.Queued
	blocked, stalled := conditionsOf(o, p, out, st.History)
	gen := pool.Generation
	failed := out.apiErr != nil || stalled != nil
	if !failed {
		st.ObservedGeneration = gen
	}
	set := func(cond *metav1.Condition, t string) {
		if cond == nil {
			cond = &metav1.Condition{Type: t, Status: metav1.ConditionFalse, Reason: corralv1.ReasonReconciled}
		}
		cond.ObservedGeneration = gen
		meta.SetStatusCondition(&st.Conditions, *cond)
	}
	if o.audited != nil {
		set(o.audited.DeepCopy(), corralv1.ConditionAudited)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, corralv1.ConditionAudited)
	}
	set(stalled, corralv1.ConditionStalled)
	set(blocked, corralv1.ConditionScalingBlocked)
	ready := readyCondition(pool, c, desiredRunners(pool, c.busy, o.demand.Queued), blocked, stalled, out.apiErr)
	if ready.Reason == corralv1.ReasonScaling && isPaced(out.forgeErr) {
		ready.Message += "; registrations paced under GitHub's secondary limit"
	}
	set(ready, corralv1.ConditionReady)
	return st
}

// conditionsOf picks the ScalingBlocked and Stalled conditions: what stops the pool, most
// pressing first.
func conditionsOf(o *observation, p plan, out outcome, h corralv1.PoolHistory) (blocked, stalled *metav1.Condition) {
	forgeBlocked, forgeStalled := forgeCondition(out.forgeErr, h)
	stalled = p.stalled
	if forgeStalled != nil && o.class.refusal == nil {
		stalled = forgeStalled // a pool its class refuses says so first
	}
	switch {
	case !o.pool.DeletionTimestamp.IsZero():
		blocked = condition(corralv1.ConditionScalingBlocked, corralv1.ReasonDeleting, "the pool is being deleted; draining its runners")
	case forgeBlocked != nil:
		blocked = forgeBlocked
	case out.admission != nil:
		blocked = out.admission
	default:
		blocked = p.blocked
	}
	return blocked, stalled
}

// readyCondition says whether the pool has its desired runners.
func readyCondition(pool *corralv1.RunnerPool, c counts, desired int32, blocked, stalled *metav1.Condition, apiErr error) *metav1.Condition {
	ready := &metav1.Condition{Type: corralv1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case stalled != nil:
		ready.Reason, ready.Message = stalled.Reason, stalled.Message
	case blocked != nil:
		ready.Reason, ready.Message = blocked.Reason, blocked.Message
	case apiErr != nil:
		ready.Reason, ready.Message = corralv1.ReasonScaling, "waiting for the Kubernetes API: "+firstLine(apiErr.Error())
	case pool.Spec.MaxRunners == 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, corralv1.ReasonPaused, "maxRunners is 0: the pool is paused"
	case c.active() != desired || c.pending > 0:
		ready.Reason = corralv1.ReasonScaling
		ready.Message = fmt.Sprintf("%d of %d runners up, %d pending", c.active()-c.pending, desired, c.pending)
	default:
		ready.Status, ready.Reason = metav1.ConditionTrue, corralv1.ReasonReconciled
		ready.Message = fmt.Sprintf("%d runners (%d idle, %d busy)", c.active(), c.idle, c.busy)
	}
	return ready
}

// writeStatus is the reconcile's one status write, made only when something changed. A
// change of counts only (countsOnly) is written at most once per StatusInterval: it returns
// how long such a write was deferred, and the reconcile comes back then to make it.
func (r *RunnerPoolReconciler) writeStatus(ctx context.Context, pool *corralv1.RunnerPool, st *corralv1.RunnerPoolStatus, now time.Time) (time.Duration, error) {
	if equality.Semantic.DeepEqual(&pool.Status, st) {
		return 0, nil
	}
	if countsOnly(&pool.Status, st) {
		if wait := r.writes.lastWrite(pool.UID).Add(r.opts().StatusInterval).Sub(now); wait > 0 {
			return wait, nil
		}
	}
	base := pool.DeepCopy()
	modified := pool.DeepCopy()
	modified.Status = *st
	if err := r.Client.Status().Patch(ctx, modified, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			r.writes.forget(pool.UID)
			return 0, nil
		}
		return 0, fmt.Errorf("writing status: %w", err)
	}
	r.writes.record(pool.UID, st, now)
	return 0, nil
}

// countsOnly reports whether next differs from prev only in what moves with every runner:
// the counts, and the Ready condition while the pool scales or is reconciled. Nothing a
// user must act on (a blocked or stalled pool, a new generation, the history the controller
// decides from) is ever held back. Pure.
func countsOnly(prev, next *corralv1.RunnerPoolStatus) bool {
	a, b := prev.DeepCopy(), next.DeepCopy()
	for _, st := range []*corralv1.RunnerPoolStatus{a, b} {
		ready := meta.FindStatusCondition(st.Conditions, corralv1.ConditionReady)
		if ready == nil || (ready.Reason != corralv1.ReasonScaling && ready.Reason != corralv1.ReasonReconciled) {
			return false
		}
		meta.RemoveStatusCondition(&st.Conditions, corralv1.ConditionReady)
		st.Runners, st.Idle, st.Busy, st.Pending, st.Queued = 0, 0, 0, 0, 0
		setDemand(st, &corralv1.RunnerPoolStatus{})
	}
	return equality.Semantic.DeepEqual(a, b)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// joinErr adds err to errs.
func joinErr(errs, err error) error {
	if err == nil {
		return errs
	}
	return errors.Join(errs, err)
}
