package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/autoscale"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/runner"
)

// workFolder is the job working directory, relative to the runner's home.
const workFolder = "_work"

// scale removes idle runners the pool no longer needs (or whose template is outdated) and
// creates the missing ones.
func (r *RunnerPoolReconciler) scale(ctx context.Context, s *reconcileState) error {
	c := countRunners(s.runners)
	desired := desiredRunners(s.pool, c.busy, s.demand.Queued)
	for _, victim := range scaleDownVictims(s.runners, desired) {
		removed, err := r.removeRunner(ctx, s, victim)
		if err != nil {
			return err
		}
		if removed {
			s.setState(victim.pod, stateDeleting)
		} else {
			s.setState(victim.pod, stateBusy) // GitHub said it took a job: it stays
		}
	}
	missing := desired - countRunners(s.runners).active()
	if missing <= 0 {
		return nil
	}
	if !r.mayCreate(s) {
		return nil
	}
	return r.createRunners(ctx, s, int(min(missing, int32(r.Options.MaxCreatesPerReconcile))))
}

// mayCreate reports whether runners may be created now: not while failures back off, nor
// from a template whose runner version GitHub refused.
func (r *RunnerPoolReconciler) mayCreate(s *reconcileState) bool {
	var wait bool
	var deprecated string
	r.memory.with(s.pool.UID, func(m *poolMemory) {
		if s.now.Before(m.nextCreate) {
			wait = true
			s.requeueAfter(m.nextCreate.Sub(s.now))
			if m.backoff != nil {
				blocked := *m.backoff
				s.blocked = &blocked
			}
		}
		deprecated = m.deprecatedHash
	})
	if deprecated != "" && deprecated == runner.TemplateHash(s.pool) {
		s.stalled = condition(corralv1.ConditionStalled, corralv1.ReasonRunnerVersionDeprecated,
			fmt.Sprintf("runners from image %s exit with code 7: GitHub no longer accepts their runner version; update spec.template.image", s.pool.Spec.Template.Image))
		return false
	}
	return !wait
}

// createRunners creates n runners, at most CreateConcurrency at a time. A dry run of the pod
// first lets admission (Pod Security, quota, policy engines) refuse it before any GitHub
// call is spent.
func (r *RunnerPoolReconciler) createRunners(ctx context.Context, s *reconcileState, n int) error {
	if admitted, err := r.dryRunPod(ctx, s); !admitted {
		return err
	}
	gh, err := r.github(ctx, s)
	if err != nil {
		return r.gitHubError(s, err)
	}
	groupID, err := gh.RunnerGroupID(ctx, s.pool.Spec.RunnerGroup)
	if err != nil {
		return r.gitHubError(s, fmt.Errorf("resolving runner group %q: %w", s.pool.Spec.RunnerGroup, err))
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, r.Options.CreateConcurrency)
	)
	for k := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.createRunner(ctx, s, gh, groupID, k); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) == 0 {
		if n == r.Options.MaxCreatesPerReconcile {
			s.requeueAfter(1) // more to create: come back at once
		}
		return nil
	}
	return r.createError(s, errors.Join(errs...))
}

// createRunner registers one runner, then creates its pod (carrying the runner ID), then the
// JIT Secret owned by the pod. A failure after registration removes what was made; a crash
// leaves either a registration without a pod (removed by the sweep) or a pod without a
// Secret (replaced by replaceBroken).
// The k-th runner of a batch serves the k-th oldest queued job, if any.
func (r *RunnerPoolReconciler) createRunner(ctx context.Context, s *reconcileState, gh GitHub, groupID int64, k int) error {
	name := github.NewRunnerName(s.prefix)
	jit, err := gh.GenerateJITConfig(ctx, github.JITRequest{
		// The labels the webhook matching assumes (pool labels plus self-hosted, OS and a
		// pinned architecture), so GitHub assigns exactly the jobs Corral counts as demand.
		Name: name, RunnerGroupID: groupID, Labels: autoscale.RunnerLabels(s.pool), WorkFolder: workFolder,
	})
	if err != nil {
		return fmt.Errorf("registering runner %s: %w", name, err)
	}
	pod := runner.BuildPod(s.pool, name, runner.JITSecretName(name))
	pod.Annotations[corralv1.AnnotationRunnerID] = strconv.FormatInt(jit.RunnerID, 10)
	if err := r.Client.Create(ctx, pod); err != nil {
		if derr := gh.DeleteRunner(ctx, jit.RunnerID); derr != nil && !errors.Is(derr, github.ErrNotFound) {
			log.FromContext(ctx).Info("runner registration left for the sweep", "runner", name, "error", derr.Error())
		}
		return fmt.Errorf("creating runner pod %s: %w", name, err)
	}
	if err := r.Client.Create(ctx, runner.BuildJITSecret(s.pool, pod, jit.Encoded)); err != nil {
		// The pod cannot start without its config: remove it (its finalizer deregisters).
		if derr := r.Client.Delete(ctx, pod); client.IgnoreNotFound(derr) != nil {
			log.FromContext(ctx).Info("runner pod left for replacement", "runner", name, "error", derr.Error())
		}
		return fmt.Errorf("creating JIT Secret for runner %s: %w", name, err)
	}
	r.Metrics.runnerCreated(s.pool)
	if r.ObserveQueuedToPod != nil && k < len(s.demand.QueuedSince) {
		r.ObserveQueuedToPod(client.ObjectKeyFromObject(s.pool), s.demand.QueuedSince[k])
	}
	r.event(s.pool, corev1.EventTypeNormal, "RunnerCreated", "created runner %s", name)
	return nil
}

// dryRunPod asks the API server to admit a runner pod without creating it. When it is
// refused, the returned error (if any) decides the requeue.
func (r *RunnerPoolReconciler) dryRunPod(ctx context.Context, s *reconcileState) (bool, error) {
	name := s.prefix + "dryrun"
	pod := runner.BuildPod(s.pool, name, runner.JITSecretName(name))
	if err := r.Client.Create(ctx, pod, client.DryRunAll); err != nil {
		return false, r.createError(s, fmt.Errorf("runner pod refused: %w", err))
	}
	return true, nil
}

// createError sets the condition that says why runners cannot be created and decides the
// requeue: quota and admission refusals back off; GitHub errors follow gitHubError.
func (r *RunnerPoolReconciler) createError(s *reconcileState, err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) && (apierrors.IsForbidden(err) || apierrors.IsInvalid(err)) {
		reason := corralv1.ReasonAdmissionRejected
		if strings.Contains(err.Error(), "exceeded quota") {
			reason = corralv1.ReasonQuotaExceeded
		}
		s.blocked = condition(corralv1.ConditionScalingBlocked, reason, status.Status().Message)
		r.event(s.pool, corev1.EventTypeWarning, reason, "%s", status.Status().Message)
		r.memory.with(s.pool.UID, func(m *poolMemory) { m.backOff(s.now, s.blocked) })
		s.requeueAfter(failureBackoff(1))
		return nil
	}
	return r.gitHubError(s, err)
}
