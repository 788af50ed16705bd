package controller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
)

// plan is what one reconcile decided to do with a pool, and why. planPool makes it from an
// observation without any I/O; act carries it out; the status is computed from both.
type plan struct {
	// marks are busy marks to record on pods (AnnotationBusy).
	marks []busyMark
	// releases are pods being deleted whose finalizer can go once their registration is gone.
	releases []release
	// removals are pods to remove, each deregistered first when needed.
	removals []removal
	// orphans are registrations without a pod, to remove.
	orphans []forge.Runner
	// create is how many runners to create; act never takes active past desired.
	create  int
	desired int32
	// active counts the runners left after the removals, creations in flight included.
	active int32
	// probe: the forge is recovering from failures: one call at a time until one succeeds.
	probe bool
	// releasePool: the pool is being deleted and nothing of it is left but its finalizer.
	releasePool bool
	// runners are the pool's runners as the plan leaves them (states after its decisions).
	runners []runnerPod
	// history is the pool's history as the plan leaves it; the outcome adds to it.
	history corralv1.PoolHistory
	// blocked and stalled are the conditions the plan knows of before acting.
	blocked, stalled *metav1.Condition
	// requeue is when to look again; 0 for never (a watch event will come).
	requeue time.Duration
	// more: the pool lacks more runners than one reconcile creates; the next comes at once,
	// unless the forge's pacer holds the registrations (then when its slot frees: finish).
	more bool
}

// busyMark sets AnnotationBusy of a pod to value and, with job, attributes the pod to the
// job it took (jobMetadata), in the same patch.
type busyMark struct {
	pod   *corev1.Pod
	value string
	job   *corralv1.JobAttribution
}

// release drops a deleting pod's finalizer, after deregistering its runner unless abandon.
type release struct {
	rp      runnerPod
	abandon bool
}

// removal removes a runner: its registration first (when deregister), then its pod.
type removal struct {
	rp         runnerPod
	deregister bool
	// why is the Event reason; "" records none.
	why string
	// failure, when set, says why the runner counts as failed once it is removed, and
	// failedAt when it failed (from the pod, so that every reconcile agrees).
	failure  string
	failedAt time.Time
	// keepIfBusy keeps the pod, marked busy, when the forge says its runner took a job.
	keepIfBusy bool
}

// Reasons of runner removals, as Events show them.
const (
	whyFailed     = "RunnerFailed"
	whyStuck      = "RunnerStuck"
	whyIncomplete = "RunnerIncomplete"
	whyStale      = "StaleRunnerRemoved"
	whyScaledDown = "RunnerRemoved"
	whyOutdated   = "RunnerReplaced"
	whyAbandoned  = "DeregistrationAbandoned"
)

// wake asks for a reconcile within d (the earliest of all asked for wins).
func (p *plan) wake(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if p.requeue == 0 || d < p.requeue {
		p.requeue = d
	}
}

// planPool decides what to do with the pool. Pure: everything comes from o and opts.
func planPool(o *observation, opts Options) plan {
	p := plan{history: *o.pool.Status.History.DeepCopy(), runners: append([]runnerPod(nil), o.runners...)}
	forgeOK := forgeReady(o.pool.Status.History, o.now)
	if !forgeOK {
		p.wake(o.pool.Status.History.ForgeRetryTime.Sub(o.now))
		p.blocked = waitingForForge(o.pool)
	} else if o.pool.Status.History.ForgeFailures > 0 {
		p.probe = true
	}
	deleting := !o.pool.DeletionTimestamp.IsZero()
	drainExpired := deleting && o.now.Sub(o.pool.DeletionTimestamp.Time) >= opts.DrainTimeout
	for i := range p.runners {
		p.planRunner(o, opts, i, forgeOK, drainExpired)
	}
	p.planSweep(o, opts)
	if deleting {
		p.planDrain(o, opts, forgeOK, drainExpired)
	} else {
		p.planScale(o, opts, forgeOK)
	}
	if !forgeOK {
		// Whatever else waits needs the forge: nothing to do before it may be called.
		p.requeue = max(p.requeue, o.pool.Status.History.ForgeRetryTime.Sub(o.now))
	}
	return p
}

// forgeReady reports whether the pool may call its forge at now.
func forgeReady(h corralv1.PoolHistory, now time.Time) bool {
	return h.ForgeRetryTime == nil || !now.Before(h.ForgeRetryTime.Time)
}

// planRunner decides about the i-th runner: release or remove it, or record it busy.
func (p *plan) planRunner(o *observation, opts Options, i int, forgeOK, drainExpired bool) {
	rp := &p.runners[i]
	canDeregister := forgeOK && !drainExpired
	switch rp.state {
	case stateDeleting:
		if !controllerutil.ContainsFinalizer(rp.pod, corralv1.FinalizerRunner) {
			return
		}
		expired := drainExpired || o.now.Sub(rp.pod.DeletionTimestamp.Time) >= opts.DrainTimeout
		switch {
		case rp.runnerID == 0:
			p.releases = append(p.releases, release{rp: *rp}) // never registered
		case expired:
			p.releases = append(p.releases, release{rp: *rp, abandon: true})
		case canDeregister:
			p.releases = append(p.releases, release{rp: *rp})
		}
		if !expired {
			p.wake(rp.pod.DeletionTimestamp.Add(opts.DrainTimeout).Sub(o.now))
		}
	case stateFinished:
		switch {
		case rp.exitCode == 0:
			// It ran its job and GitHub removed the ephemeral registration: no call to spend.
			p.remove(rp, removal{})
		case drainExpired:
			p.remove(rp, removal{why: whyAbandoned})
		case canDeregister:
			p.remove(rp, removal{deregister: true, why: whyFailed, failure: exitMessage(rp), failedAt: rp.finishedAt(o.now)})
		}
	case statePending, stateIdle:
		p.planLive(o, opts, rp, canDeregister)
	case stateBusy:
		p.planBusy(o, opts, rp)
	}
	if rp.state == stateBusy {
		p.attribute(o, rp)
	}
}

// attribute puts the identity of the job a busy runner took, when the webhook receiver
// recorded one and the pod does not carry it yet, into the runner's busy mark: the mark this
// reconcile writes anyway, or one that keeps the pod's current value.
func (p *plan) attribute(o *observation, rp *runnerPod) {
	job, ok := o.demand.Jobs[rp.name()]
	if !ok || attributedTo(rp.pod, job.JobID) {
		return
	}
	if n := len(p.marks); n > 0 && p.marks[n-1].pod == rp.pod {
		p.marks[n-1].job = &job
		return
	}
	p.marks = append(p.marks, busyMark{pod: rp.pod, value: rp.pod.Annotations[AnnotationBusy], job: &job})
}

// planBusy records what is known of a busy runner: a webhook's claim when nothing is
// recorded yet; GitHub's word when it was asked (confirmed busy, refuted, or gone).
func (p *plan) planBusy(o *observation, opts Options, rp *runnerPod) {
	seen, gone := o.seen(rp.name())
	switch {
	case gone && rp.busyMark != BusyConfirmed:
		p.remove(rp, removal{why: whyStale}) // a busy runner is still registered: it was not busy
	case seen != nil && seen.Busy && rp.busyMark != BusyConfirmed:
		p.marks = append(p.marks, busyMark{pod: rp.pod, value: BusyConfirmed})
	case seen != nil && !seen.Busy && !rp.claimedAt.IsZero():
		p.marks = append(p.marks, busyMark{pod: rp.pod, value: BusyRefuted})
		rp.state = stateIdle
		if rp.pod.Status.Phase != corev1.PodRunning {
			rp.state = statePending
		}
	case rp.busyMark == "":
		p.marks = append(p.marks, busyMark{pod: rp.pod, value: busyClaim(o.now)})
	}
	if !rp.claimedAt.IsZero() && rp.state == stateBusy {
		p.wake(rp.claimedAt.Add(opts.BusyClaimTTL).Sub(o.now))
	}
}

// planLive decides about a pending or idle runner: one that cannot work is removed; one the
// forge says took a job is recorded busy.
func (p *plan) planLive(o *observation, opts Options, rp *runnerPod, canDeregister bool) {
	age := rp.age(o.now)
	seen, gone := o.seen(rp.name())
	switch {
	case gone:
		// Only a lookup proves a registration gone; its runner never took a job (a busy
		// runner is still registered), so nothing is lost.
		p.remove(rp, removal{why: whyStale})
	case seen != nil && seen.Busy:
		rp.state = stateBusy
		p.marks = append(p.marks, busyMark{pod: rp.pod, value: BusyConfirmed})
	case !rp.hasJIT && age > opts.OrphanGrace:
		// The operator stopped between creating the pod and its Secret: our failure, not the
		// runner's, so it is replaced without backoff.
		if canDeregister {
			p.remove(rp, removal{deregister: true, why: whyIncomplete, keepIfBusy: true})
		}
	case !rp.hasJIT:
		p.wake(opts.OrphanGrace - age + time.Second)
	case rp.state == statePending && age >= opts.PendingTimeout:
		if canDeregister {
			p.remove(rp, removal{deregister: true, why: whyStuck, failure: stuckMessage(rp, opts), keepIfBusy: true,
				failedAt: rp.pod.CreationTimestamp.Add(opts.PendingTimeout)})
			if reason := stuckReason(rp.pod); reason == corralv1.ReasonUnschedulable {
				p.blocked = condition(corralv1.ConditionScalingBlocked, reason, stuckMessage(rp, opts))
			}
		}
	case rp.state == statePending:
		p.wake(opts.PendingTimeout - age)
	}
}

// remove plans the removal of rp and takes it out of the runners that count.
func (p *plan) remove(rp *runnerPod, rm removal) {
	rm.rp = *rp
	p.removals = append(p.removals, rm)
	rp.state = stateDeleting
}

// planDrain empties a pool being deleted: idle and pending runners go at once, busy ones
// finish their job first (until the drain times out); then, with a last sweep, its
// remaining registrations go, and then its finalizer.
func (p *plan) planDrain(o *observation, opts Options, forgeOK, drainExpired bool) {
	left := 0
	for i := range p.runners {
		rp := &p.runners[i]
		switch {
		case rp.state == stateDeleting:
			if controllerutil.ContainsFinalizer(rp.pod, corralv1.FinalizerRunner) {
				left++
			}
		case drainExpired:
			p.remove(rp, removal{why: whyAbandoned})
		case rp.state == stateBusy:
			left++
		case forgeOK:
			p.remove(rp, removal{deregister: true, why: whyScaledDown, keepIfBusy: true})
			left++
		default:
			left++
		}
	}
	left += len(o.inFlight)
	switch {
	case left > 0 || len(p.removals) > 0:
		p.wake(opts.BusyRecheck)
	case drainExpired || (o.forge != nil && o.forge.err == nil && o.forge.swept):
		p.releasePool = true
	}
	if !drainExpired {
		p.wake(o.pool.DeletionTimestamp.Add(opts.DrainTimeout).Sub(o.now))
	}
}
