package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/runner"
)

// recordBusy persists on the pod what webhook demand says: its runner took a job. The
// job's completed delivery usually arrives before the pod exits; without the mark the
// runner would then look idle and be deregistered, a wasted call (GitHub already removed it).
func (r *RunnerPoolReconciler) recordBusy(ctx context.Context, s *reconcileState) error {
	for _, rp := range s.runners {
		if rp.state == stateBusy && s.demand.BusyRunners[rp.name()] {
			if err := r.markBusy(ctx, rp.pod); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseDeleting removes the finalizer of runner pods being deleted (by anyone: a user, a
// drain, an eviction) once their registration is gone. A busy runner keeps its pod's
// finalizer until GitHub lets it go or DrainTimeout passes.
func (r *RunnerPoolReconciler) releaseDeleting(ctx context.Context, s *reconcileState) error {
	for _, rp := range s.runners {
		if rp.state != stateDeleting || !controllerutil.ContainsFinalizer(rp.pod, corralv1.FinalizerRunner) {
			continue
		}
		if err := r.deregister(ctx, s, rp); err != nil {
			if r.drainExpired(rp.pod.DeletionTimestamp, s) {
				r.event(s.pool, corev1.EventTypeWarning, "DeregistrationAbandoned",
					"released runner %s without deregistering it after %s: %v", rp.name(), r.Options.DrainTimeout, err)
			} else {
				s.requeueAfter(r.Options.BusyRecheck)
				if !errors.Is(err, github.ErrRunnerBusy) {
					log.FromContext(ctx).Info("runner not deregistered yet", "runner", rp.name(), "error", err.Error())
				}
				continue
			}
		}
		if err := r.releasePod(ctx, rp.pod); err != nil {
			return err
		}
	}
	return nil
}

// drainExpired reports whether a deletion started at since has waited past DrainTimeout.
func (r *RunnerPoolReconciler) drainExpired(since *metav1.Time, s *reconcileState) bool {
	return since != nil && s.now.Sub(since.Time) >= r.Options.DrainTimeout
}

// cleanUpFinished deletes terminated runner pods and their Secrets. A runner that exited 0
// ran its job and GitHub already removed its registration (ephemeral), so no API call is
// spent on it. One that failed is deregistered (if GitHub still has it) and counts as a
// failure, which backs off further creations; exit code 7 also blocks the template.
func (r *RunnerPoolReconciler) cleanUpFinished(ctx context.Context, s *reconcileState) error {
	for i, rp := range s.runners {
		if rp.state != stateFinished {
			continue
		}
		code := exitCode(rp.pod)
		if code != 0 {
			if err := r.deregister(ctx, s, rp); err != nil {
				return r.gitHubError(s, fmt.Errorf("deregistering failed runner %s: %w", rp.name(), err))
			}
			r.recordFailure(s, rp, code, fmt.Sprintf("runner %s exited with code %d without finishing a job", rp.name(), code))
		} else {
			r.memory.with(s.pool.UID, func(m *poolMemory) { m.failures = 0 })
		}
		if err := r.removePod(ctx, rp.pod); err != nil {
			return err
		}
		s.runners[i].state = stateDeleting
	}
	return nil
}

// recordFailure counts a failed runner, backs off creations and reports it.
func (r *RunnerPoolReconciler) recordFailure(s *reconcileState, rp runnerPod, code int32, message string) {
	hash := rp.pod.Annotations[corralv1.AnnotationTemplateHash]
	r.memory.with(s.pool.UID, func(m *poolMemory) {
		m.backOff(s.now, condition(corralv1.ConditionScalingBlocked, corralv1.ReasonRunnerFailures,
			message+"; new runners are backed off"))
		if code == ExitCodeVersionDeprecated {
			m.deprecatedHash = hash
		}
	})
	r.Metrics.runnerFailed(s.pool, code)
	reason := "RunnerFailed"
	if code == ExitCodeVersionDeprecated {
		reason = corralv1.ReasonRunnerVersionDeprecated
		message = fmt.Sprintf("runner %s exited with code 7: GitHub no longer accepts the runner version in image %s; update spec.template.image",
			rp.name(), s.pool.Spec.Template.Image)
	}
	r.event(s.pool, corev1.EventTypeWarning, reason, "%s", message)
}

// replaceBroken removes runners that cannot work: pods pending past PendingTimeout (image
// pull errors, unschedulable), and pods whose JIT Secret is missing (the controller stopped
// between creating the pod and its Secret), after a short grace for the cache to catch up.
func (r *RunnerPoolReconciler) replaceBroken(ctx context.Context, s *reconcileState) error {
	for i, rp := range s.runners {
		if rp.state != statePending && rp.state != stateIdle {
			continue
		}
		stuck, why := stuckPending(rp.pod, s.now, r.Options.PendingTimeout)
		stuck = stuck && rp.state == statePending
		// A pod without its JIT Secret (the controller stopped between the two) is our own
		// failure, not the runner's: it is replaced without backoff.
		incomplete := !rp.hasJIT && s.now.Sub(rp.pod.CreationTimestamp.Time) > r.Options.OrphanGrace
		if !stuck && !incomplete {
			continue
		}
		removed, err := r.removeRunner(ctx, s, rp)
		if err != nil || !removed {
			return err
		}
		s.runners[i].state = stateDeleting
		if stuck {
			msg := fmt.Sprintf("runner %s was still pending after %s", rp.name(), r.Options.PendingTimeout)
			r.recordFailure(s, rp, -1, msg)
			s.blocked = condition(corralv1.ConditionScalingBlocked, why, msg)
		}
	}
	return nil
}

// removeRunner deregisters a runner first and deletes its pod only then, so a busy runner is
// never killed: when GitHub says it is busy, the pod is marked busy and kept.
func (r *RunnerPoolReconciler) removeRunner(ctx context.Context, s *reconcileState, rp runnerPod) (bool, error) {
	if err := r.deregister(ctx, s, rp); err != nil {
		if errors.Is(err, github.ErrRunnerBusy) {
			return false, r.markBusy(ctx, rp.pod)
		}
		return false, r.gitHubError(s, fmt.Errorf("deregistering runner %s: %w", rp.name(), err))
	}
	if err := r.removePod(ctx, rp.pod); err != nil {
		return false, err
	}
	r.event(s.pool, corev1.EventTypeNormal, "RunnerRemoved", "removed runner %s", rp.name())
	return true, nil
}

// deregister deletes the runner's registration; one GitHub no longer has counts as done.
func (r *RunnerPoolReconciler) deregister(ctx context.Context, s *reconcileState, rp runnerPod) error {
	if rp.runnerID == 0 {
		return nil // never registered
	}
	gh, err := r.github(ctx, s)
	if err != nil {
		return err
	}
	if err := gh.DeleteRunner(ctx, rp.runnerID); err != nil && !errors.Is(err, github.ErrNotFound) {
		return err
	}
	return nil
}

// removePod releases the pod's finalizer (its registration is gone) and deletes the pod and
// its JIT Secret. The Secret is owned by the pod, so garbage collection would remove it too;
// deleting it here frees it at once.
func (r *RunnerPoolReconciler) removePod(ctx context.Context, pod *corev1.Pod) error {
	if err := r.releasePod(ctx, pod); err != nil {
		return err
	}
	if err := r.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting runner pod %s: %w", pod.Name, err)
	}
	secret := &corev1.Secret{}
	secret.Namespace, secret.Name = pod.Namespace, runner.JITSecretName(pod.Name)
	if err := r.Client.Delete(ctx, secret); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting JIT Secret %s: %w", secret.Name, err)
	}
	return nil
}

// releasePod removes the runner finalizer from a pod.
func (r *RunnerPoolReconciler) releasePod(ctx context.Context, pod *corev1.Pod) error {
	if !controllerutil.ContainsFinalizer(pod, corralv1.FinalizerRunner) {
		return nil
	}
	patch := client.MergeFromWithOptions(pod.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(pod, corralv1.FinalizerRunner)
	if err := r.Client.Patch(ctx, pod, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing runner pod %s: %w", pod.Name, err)
	}
	return nil
}

// markBusy records on the pod that its runner took a job.
func (r *RunnerPoolReconciler) markBusy(ctx context.Context, pod *corev1.Pod) error {
	if pod.Annotations[AnnotationBusy] == "true" {
		return nil
	}
	patch := client.MergeFrom(pod.DeepCopy())
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationBusy] = "true"
	if err := r.Client.Patch(ctx, pod, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("marking runner %s busy: %w", pod.Name, err)
	}
	return nil
}

func (r *RunnerPoolReconciler) event(pool *corralv1.RunnerPool, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pool, nil, eventType, reason, reason, format, args...)
	}
}
