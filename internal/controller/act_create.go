package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/autoscale"
	"github.com/corral-run/corral/internal/failpoint"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/runner"
)

// workFolder is the job working directory, relative to the runner's home.
const workFolder = "_work"

// createRunners creates the planned runners, at most CreateConcurrency at a time (one while
// the forge is being probed after failures). It never takes the pool past desired: victims
// that turned out busy stayed, and count. A dry run of the pod first lets admission (Pod
// Security, quota, policy engines) refuse it before any registration is spent; a template
// admitted in the last admissionTTL is not dry-run again (admissions). Jobs queued while the
// batch is in flight get their runners from it too (moreDemand), instead of waiting for the
// whole batch and the next reconcile.
func (r *RunnerPoolReconciler) createRunners(ctx context.Context, o *observation, p plan, f *forgeSession, out *outcome) {
	n := min(p.create, int(p.desired-p.active)-len(out.busy))
	if n <= 0 || f.err() != nil {
		return
	}
	if refused, err := r.dryRunPod(ctx, o); err != nil {
		out.apiErr = joinErr(out.apiErr, err)
		return
	} else if refused != nil {
		out.admission = refused
		return
	}
	workers := r.opts().CreateConcurrency
	if p.probe {
		workers = 1
	}
	var mu sync.Mutex
	done := make(chan struct{}, workers)
	since := o.demand.QueuedSince // the k-th runner serves the k-th oldest queued job
	running, added := 0, 0
	for k := 0; k < n || running > 0; {
		if f.err() != nil {
			n = k // the forge failed: start no more
		}
		if k < n && running < workers {
			var queuedAt time.Time
			if k < len(since) {
				queuedAt = since[k]
			}
			go func() {
				defer func() { done <- struct{}{} }()
				created, refused, err := r.createRunner(ctx, o, f, queuedAt)
				mu.Lock()
				defer mu.Unlock()
				if out.record(created, refused, err) {
					r.admitted.forget(o.pool.UID)
				}
			}()
			running++
			k++
			continue
		}
		<-done
		running--
		mu.Lock()
		failed := out.admission != nil || out.apiErr != nil // more would spend registrations on it
		mu.Unlock()
		if k == n && f.err() == nil && !failed {
			// Every planned creation started: as each one ends, look for jobs queued since.
			if more, queued := r.moreDemand(ctx, o, p); more > added {
				if grow := min(more-added, r.opts().MaxCreatesPerReconcile-n); grow > 0 {
					n, added, since = n+grow, added+grow, queued
				}
			}
		}
	}
}

// record folds one creation's result into the outcome; true when admission refused the pod.
func (out *outcome) record(created bool, refused *metav1.Condition, err error) bool {
	if created {
		out.created++
	}
	var left leftBehind
	if errors.As(err, &left) {
		out.leftBehind = append(out.leftBehind, left.name)
		if admissionRefusal(left.err) != nil {
			refused, err = admissionRefusal(left.err), nil
		}
	}
	if refused != nil {
		out.admission = refused
	}
	out.apiErr = joinErr(out.apiErr, err)
	return refused != nil
}

// moreDemand is how many runners beyond the plan the pool's demand asks for now (jobs queued
// or started since the observation, up to maxRunners), with the queued times it read. None while the
// forge is probed, nor when the pool changed otherwise (its spec, its deletion): the next
// reconcile plans that. The cache is read, so this costs no API call.
func (r *RunnerPoolReconciler) moreDemand(ctx context.Context, o *observation, p plan) (int, []time.Time) {
	if r.DemandOf == nil || p.probe {
		return 0, nil
	}
	fresh := &corralv1.RunnerPool{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(o.pool), fresh); err != nil ||
		fresh.UID != o.pool.UID || fresh.Generation != o.pool.Generation || !fresh.DeletionTimestamp.IsZero() {
		return 0, nil
	}
	d := r.DemandOf(fresh, r.now())
	// Jobs that went from queued to in progress meanwhile (taken by this batch's first
	// runners, as in any burst) are still demand: count both.
	grown := d.Queued + int32(len(d.BusyRunners)) - o.demand.Queued - int32(len(o.demand.BusyRunners))
	if grown <= 0 {
		return 0, nil
	}
	return int(min(o.pool.Spec.MaxRunners, p.desired+grown) - p.desired), d.QueuedSince
}

// createRunner registers one runner, then creates its pod (carrying the runner ID), then the
// JIT Secret owned by the pod. A failure after registration removes what was made; a crash
// leaves either a registration without a pod (removed by the sweep) or a pod without a
// Secret (replaced as incomplete). queuedAt is when the job it serves was queued (zero when
// none is). Forge failures are recorded by the session; the error is the API server's.
func (r *RunnerPoolReconciler) createRunner(ctx context.Context, o *observation, f *forgeSession, queuedAt time.Time) (bool, *metav1.Condition, error) {
	name := github.NewRunnerName(o.prefix)
	r.expect.expect(o.pool.UID, name, o.now)
	reg, err := f.register(ctx, forge.RunnerSpec{
		// The labels the webhook matching assumes (pool labels plus self-hosted, OS and a
		// pinned architecture), so GitHub assigns exactly the jobs Corral counts as demand.
		Name: name, Group: o.pool.Spec.RunnerGroup, Labels: autoscale.RunnerLabels(o.pool), WorkFolder: workFolder,
	})
	if err != nil {
		r.expect.forget(o.pool.UID, name)
		log.FromContext(ctx).V(1).Info("registering a runner failed", "runner", name, "error", err.Error())
		return false, nil, nil
	}
	failpoint.Hit("register")
	pod := runner.BuildPod(o.class.effective, name, runner.JITSecretName(name))
	pod.Annotations[corralv1.AnnotationRunnerID] = strconv.FormatInt(reg.ID, 10)
	if err := r.Client.Create(ctx, pod); err != nil {
		r.expect.forget(o.pool.UID, name)
		if derr := f.deregister(ctx, reg.ID); derr != nil {
			log.FromContext(ctx).Info("runner registration left for the sweep", "runner", name, "error", derr.Error())
			return false, nil, leftBehind{name: name, err: fmt.Errorf("creating runner pod %s: %w", name, err)}
		}
		if refused := admissionRefusal(err); refused != nil {
			return false, refused, nil
		}
		return false, nil, fmt.Errorf("creating runner pod %s: %w", name, err)
	}
	failpoint.Hit("pod-created")
	if err := r.Client.Create(ctx, runner.BuildJITSecret(o.pool, pod, reg.Config)); err != nil {
		// The pod cannot start without its config: remove it (its finalizer deregisters).
		if derr := r.Client.Delete(ctx, pod); client.IgnoreNotFound(derr) != nil {
			r.expect.markIncomplete(o.pool.UID, name)
			log.FromContext(ctx).Info("runner pod left for replacement", "runner", name, "error", derr.Error())
		}
		return false, nil, fmt.Errorf("creating JIT Secret for runner %s: %w", name, err)
	}
	r.Metrics.runnerCreated(o.pool)
	if r.ObserveQueuedToPod != nil && !queuedAt.IsZero() {
		r.ObserveQueuedToPod(client.ObjectKeyFromObject(o.pool), queuedAt)
	}
	// No Event: one per runner would double the pool's API writes (docs/performance.md);
	// the pool's status and the corral_runners_created_total metric count them.
	log.FromContext(ctx).V(1).Info("created runner", "runner", name)
	return true, nil, nil
}

// dryRunPod asks the API server to admit a runner pod without creating it: the condition
// says why it was refused, the error is any other failure.
func (r *RunnerPoolReconciler) dryRunPod(ctx context.Context, o *observation) (*metav1.Condition, error) {
	name := o.prefix + "dryrun"
	pod := runner.BuildPod(o.class.effective, name, runner.JITSecretName(name))
	hash := podHash(pod)
	if r.admitted.fresh(o.pool.UID, hash, o.now) {
		return nil, nil
	}
	err := r.Client.Create(ctx, pod, client.DryRunAll)
	if err == nil {
		r.admitted.record(o.pool.UID, hash, o.now)
		return nil, nil
	}
	if refused := admissionRefusal(err); refused != nil {
		r.event(o.pool, corev1.EventTypeWarning, refused.Reason, "%s", refused.Message)
		return refused, nil
	}
	return nil, fmt.Errorf("dry run of a runner pod: %w", err)
}

// admissionRefusal is the ScalingBlocked condition for a pod the API server refused
// (quota, Pod Security, a policy engine); nil for any other error.
func admissionRefusal(err error) *metav1.Condition {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)) {
		return nil
	}
	reason := corralv1.ReasonAdmissionRejected
	if strings.Contains(err.Error(), "exceeded quota") {
		reason = corralv1.ReasonQuotaExceeded
	}
	return condition(corralv1.ConditionScalingBlocked, reason, status.Status().Message)
}

// leftBehind is a creation that failed after registering its runner and could not remove
// the registration: the sweep must look for it.
type leftBehind struct {
	name string
	err  error
}

func (e leftBehind) Error() string { return e.err.Error() }
func (e leftBehind) Unwrap() error { return e.err }
