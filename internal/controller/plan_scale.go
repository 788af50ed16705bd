package controller

import (
	"fmt"
	"sort"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
)

// counts are the pool's runners by state.
type counts struct {
	pending, idle, busy int32
}

func (c counts) active() int32 { return c.pending + c.idle + c.busy }

func countRunners(runners []runnerPod) counts {
	var c counts
	for _, r := range runners {
		switch r.state {
		case statePending:
			c.pending++
		case stateIdle:
			c.idle++
		case stateBusy:
			c.busy++
		}
	}
	return c
}

// desiredRunners is busy + idle wanted (minIdle + queued jobs not yet taken), capped at
// maxRunners.
func desiredRunners(pool *corralv1.RunnerPool, busy, queued int32) int32 {
	want := busy + pool.Spec.MinIdle + queued
	return max(0, min(want, pool.Spec.MaxRunners))
}

// planScale removes the idle runners the pool no longer needs or whose template is
// outdated, and creates the missing ones. Creations still in flight count as pending
// runners, so a reconcile that runs before the cache shows them creates nothing twice.
func (p *plan) planScale(o *observation, opts Options, forgeOK bool) {
	c := countRunners(p.runners)
	inFlight := int32(len(o.inFlight))
	p.desired = desiredRunners(o.pool, c.busy, o.demand.Queued)
	if refusal := o.class.refusal; refusal != nil {
		// A pool that may not run gets no new runner and keeps only its busy ones.
		p.stalled, p.desired = refusal, c.busy
	}
	p.active = c.active() + inFlight
	if forgeOK {
		for _, v := range scaleDownVictims(p.runners, p.desired, inFlight) {
			why := whyScaledDown
			if !v.current {
				why = whyOutdated
			}
			for i := range p.runners {
				if p.runners[i].pod == v.pod {
					p.remove(&p.runners[i], removal{deregister: true, why: why, keepIfBusy: true})
				}
			}
			p.active--
		}
	}
	missing := p.desired - p.active
	if missing <= 0 || o.class.refusal != nil || !p.mayCreate(o, p.historyWithPlannedFailures(o), forgeOK) {
		return
	}
	p.create = int(min(missing, int32(opts.MaxCreatesPerReconcile)))
	if p.probe {
		p.create = 1
	}
	p.more = int32(p.create) < missing
}

// historyWithPlannedFailures is the history as it will be once the planned removals of
// failed runners are done: their replacements back off already.
func (p *plan) historyWithPlannedFailures(o *observation) corralv1.PoolHistory {
	h := o.pool.Status.History
	var n int32
	last, at := "", time.Time{}
	for _, rm := range p.removals {
		if rm.failure != "" {
			n++
			last, at = rm.failure, latest(at, rm.failedAt)
			if rm.rp.exitCode == ExitCodeVersionDeprecated {
				h.DeprecatedTemplateHash = rm.rp.pod.Annotations[corralv1.AnnotationTemplateHash]
			}
		}
	}
	return withFailures(h, n, last, at)
}

// mayCreate reports whether runners may be created now: not while the forge or runner
// failures (h) back off, nor from a template whose runner version GitHub refused.
func (p *plan) mayCreate(o *observation, h corralv1.PoolHistory, forgeOK bool) bool {
	if h.DeprecatedTemplateHash != "" && h.DeprecatedTemplateHash == runner.TemplateHash(o.class.effective) {
		p.stalled = condition(corralv1.ConditionStalled, corralv1.ReasonRunnerVersionDeprecated,
			fmt.Sprintf("runners from image %s exit with code 7: GitHub no longer accepts their runner version; update spec.template.image",
				o.pool.Spec.Template.Image))
		return false
	}
	if !forgeOK {
		return false
	}
	if until, waiting := runnerBackoffUntil(h, o.now); waiting {
		p.wake(until.Sub(o.now))
		if p.blocked == nil {
			// The failure's own statement (a quota or admission refusal, unschedulable pods)
			// is persisted in the condition: keep saying it while the backoff lasts.
			p.blocked = carried(o.pool, corralv1.ConditionScalingBlocked,
				corralv1.ReasonAdmissionRejected, corralv1.ReasonQuotaExceeded, corralv1.ReasonUnschedulable)
		}
		if p.blocked == nil {
			p.blocked = condition(corralv1.ConditionScalingBlocked, corralv1.ReasonRunnerFailures,
				fmt.Sprintf("%d runners in a row failed, the last: %s; new runners wait until %s",
					h.RunnerFailures, h.LastRunnerFailure, until.UTC().Format("15:04:05Z")))
		}
		return false
	}
	return true
}

// scaleDownVictims picks the runners to remove: outdated idle or pending runners always
// (they are replaced), then as many more idle or pending ones as exceed desired. Pending
// runners go first (they have not come online), then the youngest. Busy runners are never
// picked. inFlight creations count towards the pool's size but cannot be picked.
func scaleDownVictims(runners []runnerPod, desired, inFlight int32) []runnerPod {
	var removable []runnerPod
	active := inFlight
	for _, r := range runners {
		if r.active() {
			active++
		}
		if r.state == statePending || r.state == stateIdle {
			removable = append(removable, r)
		}
	}
	sort.SliceStable(removable, func(i, j int) bool {
		a, b := removable[i], removable[j]
		if a.current != b.current {
			return !a.current
		}
		if a.state != b.state {
			return a.state == statePending
		}
		return a.pod.CreationTimestamp.After(b.pod.CreationTimestamp.Time)
	})
	var victims []runnerPod
	excess := active - desired
	for _, r := range removable {
		if !r.current || excess > 0 {
			victims = append(victims, r)
			excess--
		}
	}
	return victims
}
