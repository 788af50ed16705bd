package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/corral-run/corral/internal/github"
)

// sweep compares the pool's registrations in GitHub with its pods, every SweepInterval (with
// jitter). It removes registrations carrying this pool's exact name prefix that are offline,
// have no pod and were seen so for OrphanGrace (a crash between registration and pod
// creation), and replaces running pods whose registration GitHub no longer has and that never
// took a job. It also learns which runners are busy. Other pools' and other clusters'
// runners never match the prefix, which carries a hash of the pool's UID.
func (r *RunnerPoolReconciler) sweep(ctx context.Context, s *reconcileState) error {
	var due bool
	r.memory.with(s.pool.UID, func(m *poolMemory) {
		next := m.lastSweep.Add(r.Options.SweepInterval)
		if len(m.orphanSeen) > 0 {
			next = minTime(next, m.lastSweep.Add(r.Options.OrphanGrace))
		}
		due = !s.now.Before(next)
		if !due {
			s.requeueAfter(next.Sub(s.now) + jitter(r.Options.SweepInterval))
		}
	})
	if !due {
		return nil
	}
	gh, err := r.github(ctx, s)
	if err != nil {
		return r.gitHubError(s, err)
	}
	registered, err := gh.ListRunners(ctx, s.prefix)
	if err != nil {
		return r.gitHubError(s, fmt.Errorf("listing runners: %w", err))
	}
	byName := make(map[string]github.Runner, len(registered))
	for _, reg := range registered {
		byName[reg.Name] = reg
	}
	if err := r.reconcilePodsWithRegistrations(ctx, s, byName); err != nil {
		return err
	}
	orphans := r.orphans(s, registered)
	for _, reg := range orphans {
		if err := gh.DeleteRunner(ctx, reg.ID); err != nil && !errors.Is(err, github.ErrNotFound) {
			return r.gitHubError(s, fmt.Errorf("removing orphaned runner %s: %w", reg.Name, err))
		}
		log.FromContext(ctx).Info("removed orphaned registration", "runner", reg.Name)
		r.event(s.pool, corev1.EventTypeNormal, "OrphanRemoved", "removed registration %s that had no pod", reg.Name)
	}
	r.memory.with(s.pool.UID, func(m *poolMemory) { m.lastSweep = s.now })
	s.requeueAfter(r.Options.SweepInterval + jitter(r.Options.SweepInterval))
	return nil
}

// reconcilePodsWithRegistrations marks busy runners and replaces running pods whose
// registration is gone although they never took a job.
func (r *RunnerPoolReconciler) reconcilePodsWithRegistrations(ctx context.Context, s *reconcileState, byName map[string]github.Runner) error {
	for _, rp := range s.runners {
		reg, ok := byName[rp.name()]
		switch {
		case ok && reg.Busy:
			if err := r.markBusy(ctx, rp.pod); err != nil {
				return err
			}
			s.setState(rp.pod, stateBusy)
		case !ok && rp.state == stateIdle && s.now.Sub(rp.pod.CreationTimestamp.Time) > r.Options.OrphanGrace:
			if err := r.removePod(ctx, rp.pod); err != nil {
				return err
			}
			s.setState(rp.pod, stateDeleting)
			r.event(s.pool, corev1.EventTypeNormal, "StaleRunnerRemoved", "removed runner %s: GitHub no longer has its registration", rp.name())
		}
	}
	return nil
}

// orphans returns the offline registrations without a pod that were already seen so at
// least OrphanGrace ago, and remembers the new candidates.
func (r *RunnerPoolReconciler) orphans(s *reconcileState, registered []github.Runner) []github.Runner {
	pods := make(map[string]bool, len(s.runners))
	for _, rp := range s.runners {
		pods[rp.name()] = true
	}
	var out []github.Runner
	r.memory.with(s.pool.UID, func(m *poolMemory) {
		seen := make(map[string]time.Time)
		for _, reg := range registered {
			if pods[reg.Name] || reg.Online {
				continue
			}
			first, ok := m.orphanSeen[reg.Name]
			if !ok {
				first = s.now
			}
			if s.now.Sub(first) >= r.Options.OrphanGrace {
				out = append(out, reg)
				continue
			}
			seen[reg.Name] = first
		}
		m.orphanSeen = seen
	})
	return out
}

// jitter spreads sweeps of many pools: up to a tenth of d.
func jitter(d time.Duration) time.Duration {
	if d < 10 {
		return 0
	}
	return rand.N(d / 10)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
