package controller

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/failpoint"
	"github.com/corral-run/corral/internal/forge"
)

// outcome is what act did: the facts the status and the history are computed from.
type outcome struct {
	// removed are the removals carried out (the pod was deleted).
	removed []removal
	// busy names the runners the forge said are running a job: kept, marked busy.
	busy map[string]bool
	// waiting: something waits for a busy runner to let go.
	waiting bool
	created int
	// leftBehind names registrations a failed creation could not remove: orphan candidates.
	leftBehind []string
	// admission is set when the API server refused a runner pod.
	admission *metav1.Condition
	// forgeErr stopped the forge calls of this reconcile (nil when none failed).
	forgeErr error
	// answered: the forge answered at least one call.
	answered bool
	// apiErr joins the Kubernetes API errors: they are retried with backoff.
	apiErr error
}

// act carries out the plan. One runner's trouble never stops the others: each step's error
// is recorded and the next step runs; the forge session stops sending calls once the forge
// itself failed.
func (r *RunnerPoolReconciler) act(ctx context.Context, o *observation, p plan, f *forgeSession) outcome {
	out := outcome{busy: map[string]bool{}}
	for _, m := range p.marks {
		out.apiErr = joinErr(out.apiErr, r.markBusy(ctx, m))
	}
	for _, rel := range p.releases {
		r.release(ctx, o, rel, f, &out)
	}
	for _, rm := range p.removals {
		r.remove(ctx, o, rm, f, &out)
	}
	orphansLeft := false
	for _, reg := range p.orphans {
		if err := f.deregister(ctx, reg.ID); err != nil {
			orphansLeft = true
			continue
		}
		log.FromContext(ctx).Info("removed orphaned registration", "runner", reg.Name)
		r.event(o.pool, corev1.EventTypeNormal, "OrphanRemoved", "removed registration %s that had no pod", reg.Name)
	}
	if p.create > 0 {
		r.createRunners(ctx, o, p, f, &out)
	}
	if p.releasePool && !orphansLeft && out.apiErr == nil {
		out.apiErr = joinErr(out.apiErr, r.releasePool(ctx, o.pool))
	}
	out.forgeErr, out.answered = f.err(), f.answered()
	return out
}

// release drops a deleting pod's finalizer once its registration is gone (or at once when
// the drain was abandoned). A busy runner keeps it until GitHub lets go.
func (r *RunnerPoolReconciler) release(ctx context.Context, o *observation, rel release, f *forgeSession, out *outcome) {
	if rel.abandon {
		r.event(o.pool, corev1.EventTypeWarning, whyAbandoned,
			"released runner %s without deregistering it after %s", rel.rp.name(), r.opts().DrainTimeout)
	} else if rel.rp.runnerID != 0 {
		if err := f.deregister(ctx, rel.rp.runnerID); err != nil {
			out.waiting = out.waiting || forge.KindOf(err) == forge.KindBusy
			return
		}
		failpoint.Hit("deregistered")
	}
	out.apiErr = joinErr(out.apiErr, r.releasePod(ctx, rel.rp.pod))
}

// remove deregisters a runner (when the plan says so) and only then deletes its pod, so a
// busy runner is never killed: when the forge says it took a job, it stays.
func (r *RunnerPoolReconciler) remove(ctx context.Context, o *observation, rm removal, f *forgeSession, out *outcome) {
	if rm.deregister && rm.rp.runnerID != 0 {
		err := f.deregister(ctx, rm.rp.runnerID)
		switch {
		case err == nil:
			failpoint.Hit("deregistered")
		case forge.KindOf(err) == forge.KindBusy && rm.keepIfBusy:
			out.busy[rm.rp.name()] = true
			out.apiErr = joinErr(out.apiErr, r.markBusy(ctx, busyMark{pod: rm.rp.pod, value: BusyConfirmed}))
			return
		case forge.KindOf(err) == forge.KindBusy:
			// A runner that crashed mid-job looks busy to GitHub for a while: wait for it.
			out.waiting = true
			return
		default:
			return // the session recorded the forge's failure
		}
	}
	if err := r.removePod(ctx, rm.rp.pod); err != nil {
		out.apiErr = joinErr(out.apiErr, err)
		return
	}
	r.expect.removed(o.pool.UID, rm.rp.name(), o.now)
	r.expect.forgetPod(o.pool.UID, rm.rp.name(), rm.rp.pod.UID)
	out.removed = append(out.removed, rm)
	switch {
	case rm.failure != "":
		r.Metrics.runnerFailed(o.pool, rm.rp.exitCode)
		reason := whyFailed
		if rm.rp.exitCode == ExitCodeVersionDeprecated {
			reason = corralv1.ReasonRunnerVersionDeprecated
		}
		r.event(o.pool, corev1.EventTypeWarning, reason, "%s; new runners are backed off", rm.failure)
	case rm.why == whyAbandoned:
		r.event(o.pool, corev1.EventTypeWarning, rm.why, "removed runner %s without deregistering it: the pool's drain exceeded %s", rm.rp.name(), r.opts().DrainTimeout)
	case rm.why == whyScaledDown || rm.why == whyOutdated:
		// Routine: no Event per runner (see createRunner).
		log.FromContext(ctx).V(1).Info("removed runner", "runner", rm.rp.name(), "why", rm.why)
	case rm.why != "":
		r.event(o.pool, corev1.EventTypeNormal, rm.why, "removed runner %s", rm.rp.name())
	}
}

// removePod releases the pod's finalizer (its registration is gone) and deletes the pod.
// Its JIT Secret is owned by the pod: garbage collection removes it with the pod.
func (r *RunnerPoolReconciler) removePod(ctx context.Context, pod *corev1.Pod) error {
	if err := r.releasePod(ctx, pod); err != nil {
		return err
	}
	if err := r.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting runner pod %s: %w", pod.Name, err)
	}
	return nil
}

// releasePod removes the runner finalizer from a pod.
func (r *RunnerPoolReconciler) releasePod(ctx context.Context, pod *corev1.Pod) error {
	if !controllerutil.ContainsFinalizer(pod, corralv1.FinalizerRunner) {
		return nil
	}
	pod = pod.DeepCopy()
	patch := client.MergeFromWithOptions(pod.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(pod, corralv1.FinalizerRunner)
	if err := r.Client.Patch(ctx, pod, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing runner pod %s: %w", pod.Name, err)
	}
	return nil
}

// markBusy records on the pod what is known of its runner taking a job (AnnotationBusy)
// and, when the mark carries the job, whose job it is (jobMetadata): one patch.
func (r *RunnerPoolReconciler) markBusy(ctx context.Context, m busyMark) error {
	attribute := m.job != nil && !attributedTo(m.pod, m.job.JobID)
	if m.pod.Annotations[AnnotationBusy] == m.value && !attribute {
		return nil
	}
	pod := m.pod.DeepCopy()
	patch := client.MergeFrom(pod.DeepCopy())
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationBusy] = m.value
	if attribute {
		labels, annotations := jobMetadata(*m.job)
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		maps.Copy(pod.Labels, labels)
		maps.Copy(pod.Annotations, annotations)
	}
	if err := r.Client.Patch(ctx, pod, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("marking runner %s busy: %w", pod.Name, err)
	}
	owner := metav1.GetControllerOf(pod)
	if owner != nil {
		r.expect.marked(owner.UID, pod.UID, m.value, m.job)
	}
	if attribute && r.opts().JobEvents && r.Recorder != nil {
		r.Recorder.Eventf(pod, nil, corev1.EventTypeNormal, "JobStarted", "JobStarted", "%s", jobNote(*m.job))
	}
	return nil
}

// releasePool removes the pool's finalizer: nothing of it is left.
func (r *RunnerPoolReconciler) releasePool(ctx context.Context, pool *corralv1.RunnerPool) error {
	patch := client.MergeFrom(pool.DeepCopy())
	controllerutil.RemoveFinalizer(pool, corralv1.FinalizerPool)
	if err := r.Client.Patch(ctx, pool, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("releasing pool finalizer: %w", err)
	}
	r.expect.forgetPool(pool.UID)
	r.writes.forget(pool.UID)
	r.admitted.forget(pool.UID)
	r.audits.record(pool.UID, "", time.Time{})
	return nil
}

func (r *RunnerPoolReconciler) event(pool *corralv1.RunnerPool, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pool, nil, eventType, reason, reason, format, args...)
	}
}
