package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// condition builds a True condition.
func condition(t, reason, message string) *metav1.Condition {
	return &metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: message}
}

// gitHubError turns a GitHub (or credentials) error into conditions and the requeue it
// deserves: rate limits wait exactly as long as GitHub says; bad credentials, a missing App
// permission or a bad URL stall the pool (no hot retry: fixing the Secret triggers a
// reconcile); anything else is transient and backs off.
func (r *RunnerPoolReconciler) gitHubError(s *reconcileState, err error) error {
	var (
		rl   *github.RateLimitError
		auth *github.AuthError
		cfg  *configError
	)
	switch {
	case errors.As(err, &rl):
		s.blocked = condition(corralv1.ConditionScalingBlocked, corralv1.ReasonRateLimited,
			fmt.Sprintf("GitHub rate limit reached; waiting until %s", rl.Reset.UTC().Format("15:04:05Z")))
		s.requeueAfter(max(rl.RetryAfter, 1))
		return nil
	case errors.As(err, &auth):
		reason := corralv1.ReasonCredentialsInvalid
		if auth.Permission != "" || auth.StatusCode == 403 {
			reason = corralv1.ReasonPermissionDenied
		}
		s.stalled = condition(corralv1.ConditionStalled, reason, err.Error())
		r.event(s.pool, "Warning", reason, "%s", err.Error())
		return reconcile.TerminalError(err)
	case errors.As(err, &cfg):
		s.stalled = condition(corralv1.ConditionStalled, cfg.reason, err.Error())
		r.event(s.pool, "Warning", cfg.reason, "%s", err.Error())
		return reconcile.TerminalError(err)
	default:
		s.blocked = condition(corralv1.ConditionScalingBlocked, corralv1.ReasonGitHubUnavailable, err.Error())
		return err
	}
}

// writeStatus is the reconcile's one status write, made only when something changed.
// observedGeneration moves only when the reconcile succeeded.
func (r *RunnerPoolReconciler) writeStatus(ctx context.Context, s *reconcileState, res ctrl.Result, err error) (ctrl.Result, error) {
	before := s.pool.Status.DeepCopy()
	after := computeStatus(s.pool, s, err)
	r.Metrics.observePool(s.pool, countRunners(s.runners))
	if equality.Semantic.DeepEqual(before, after) {
		return res, err
	}
	base := s.pool.DeepCopy()
	modified := base.DeepCopy()
	modified.Status = *after
	if perr := r.Client.Status().Patch(ctx, modified, client.MergeFrom(base)); client.IgnoreNotFound(perr) != nil {
		return res, errors.Join(err, fmt.Errorf("writing status: %w", perr))
	}
	return res, err
}

// computeStatus derives the pool's status from what the reconcile saw and did. Pure.
func computeStatus(pool *corralv1.RunnerPool, s *reconcileState, err error) *corralv1.RunnerPoolStatus {
	st := pool.Status.DeepCopy()
	c := countRunners(s.runners)
	st.Runners, st.Idle, st.Busy, st.Pending, st.Queued = c.active(), c.idle, c.busy, c.pending, s.demand.Queued
	gen := pool.Generation
	if err == nil {
		st.ObservedGeneration = gen
	}
	desired := desiredRunners(pool, c.busy, s.demand.Queued)
	set := func(cond *metav1.Condition, t string, falseReason, falseMsg string) {
		if cond == nil {
			cond = &metav1.Condition{Type: t, Status: metav1.ConditionFalse, Reason: falseReason, Message: falseMsg}
		}
		cond.ObservedGeneration = gen
		meta.SetStatusCondition(&st.Conditions, *cond)
	}
	set(s.stalled, corralv1.ConditionStalled, corralv1.ReasonReconciled, "")
	set(s.blocked, corralv1.ConditionScalingBlocked, corralv1.ReasonReconciled, "")
	ready := &metav1.Condition{Type: corralv1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case s.stalled != nil:
		ready.Reason, ready.Message = s.stalled.Reason, s.stalled.Message
	case s.blocked != nil:
		ready.Reason, ready.Message = s.blocked.Reason, s.blocked.Message
	case err != nil:
		ready.Reason, ready.Message = corralv1.ReasonGitHubUnavailable, firstLine(err.Error())
	case pool.Spec.MaxRunners == 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, corralv1.ReasonPaused, "maxRunners is 0: the pool is paused"
	case c.active() != desired || c.pending > 0:
		ready.Reason = corralv1.ReasonScaling
		ready.Message = fmt.Sprintf("%d of %d runners up, %d pending", c.active()-c.pending, desired, c.pending)
	default:
		ready.Status, ready.Reason = metav1.ConditionTrue, corralv1.ReasonReconciled
		ready.Message = fmt.Sprintf("%d runners (%d idle, %d busy)", c.active(), c.idle, c.busy)
	}
	set(ready, corralv1.ConditionReady, "", "")
	return st
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
