package controller

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
)

// nextSweep is when the pool's registrations are next compared with its pods: at once when
// an earlier operator process may have left something behind (the pool was last swept, or
// created, before this process started), sooner while orphan candidates wait out their
// grace, else every SweepInterval (plus a jitter derived from the pool's UID, so that many
// pools spread out and a restart keeps the schedule). Nothing else needs a sweep: this
// process's own creations either complete or clean up after themselves (or record what they
// left as an orphan candidate), so in steady state a pool calls GitHub only for its runners.
func nextSweep(o *observation, opts Options) time.Time {
	h := o.pool.Status.History
	last := o.pool.CreationTimestamp.Time
	if h.LastSweepTime != nil {
		last = h.LastSweepTime.Time
	}
	if last.Before(o.processStart) {
		return last
	}
	next := last.Add(opts.SweepInterval + sweepJitter(o.pool.UID, opts.SweepInterval))
	for _, c := range h.OrphanCandidates {
		if soon := c.FirstSeen.Add(opts.OrphanGrace); soon.Before(next) {
			next = soon
		}
	}
	return next
}

// sweepDue reports whether this reconcile sweeps: at its time, and at the end of a pool's
// drain (its last registrations go with it). Never while the forge backs off.
func sweepDue(o *observation, opts Options) bool {
	if !forgeReady(o.pool.Status.History, o.now) {
		return false
	}
	if !o.pool.DeletionTimestamp.IsZero() {
		return drained(o)
	}
	return !o.now.Before(nextSweep(o, opts))
}

// drained reports whether a deleting pool has no runner left that holds it.
func drained(o *observation) bool {
	if len(o.inFlight) > 0 {
		return false
	}
	for _, rp := range o.runners {
		if rp.state != stateDeleting || controllerutil.ContainsFinalizer(rp.pod, corralv1.FinalizerRunner) {
			return false
		}
	}
	return true
}

// sweepJitter is up to a tenth of d, the same for a pool every time.
func sweepJitter(uid types.UID, d time.Duration) time.Duration {
	if d < 10 {
		return 0
	}
	sum := sha256.Sum256([]byte(uid))
	return time.Duration(binary.BigEndian.Uint64(sum[:8]) % uint64(d/10))
}

// planSweep uses a sweep's reading of the forge: registrations carrying this pool's name
// prefix that are offline, have no pod and are not being created are orphans (a crash
// between registration and pod creation). One is removed once it has been seen so for
// OrphanGrace, across sweeps: the candidates are kept in the pool's history, so a restart
// does not start their grace again. A pool being deleted removes them at once.
func (p *plan) planSweep(o *observation, opts Options) {
	v := o.forge
	if v == nil || v.err != nil || !v.swept {
		if o.pool.DeletionTimestamp.IsZero() {
			p.wake(nextSweep(o, opts).Sub(o.now))
		}
		return
	}
	pods := make(map[string]bool, len(o.runners))
	for _, rp := range o.runners {
		pods[rp.name()] = true
	}
	firstSeen := map[string]metav1.Time{}
	for _, c := range o.pool.Status.History.OrphanCandidates {
		firstSeen[c.Name] = c.FirstSeen
	}
	grace := opts.OrphanGrace
	if !o.pool.DeletionTimestamp.IsZero() {
		grace = 0
	}
	var candidates []corralv1.OrphanCandidate
	for _, reg := range sortedRunners(v.listed) {
		if pods[reg.Name] || o.inFlight[reg.Name] || reg.Online || reg.Busy {
			continue
		}
		first, ok := firstSeen[reg.Name]
		if !ok {
			first = metav1.NewTime(o.now)
		}
		if o.now.Sub(first.Time) >= grace {
			p.orphans = append(p.orphans, reg)
		} else if len(candidates) < corralv1.MaxOrphanCandidates {
			candidates = append(candidates, corralv1.OrphanCandidate{Name: reg.Name, FirstSeen: first})
		}
	}
	now := metav1.NewTime(o.now)
	p.history.LastSweepTime = &now
	p.history.OrphanCandidates = candidates
	if o.pool.DeletionTimestamp.IsZero() {
		next := opts.SweepInterval + sweepJitter(o.pool.UID, opts.SweepInterval)
		for _, c := range candidates {
			next = min(next, c.FirstSeen.Add(opts.OrphanGrace).Sub(o.now))
		}
		p.wake(next)
	}
}

// sortedRunners returns the registrations by name, so that plans are deterministic.
func sortedRunners(m map[string]forge.Runner) []forge.Runner {
	out := make([]forge.Runner, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
