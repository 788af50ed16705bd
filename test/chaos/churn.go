//go:build chaos

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
)

// errorStatuses are what the fake answers a request the error fault hits: server errors and
// GitHub's two secondary-limit answers (with Retry-After).
func errorStatuses() []int {
	return []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusTooManyRequests, http.StatusForbidden}
}

// runRecord is what happened during the run, by the run's clock.
type runRecord struct {
	cfg                    config
	started, finished      time.Time
	churnStart, churnEnd   time.Time
	outageStart, outageEnd time.Time
	drained                time.Time // every queued job completed; zero if they never did
	calm                   time.Time // when the final checks began
	queued                 int
	killsSkipped           int // planned kills that found no running replica
	// stats bound the churn's random errors: at its start, before they are lifted for the
	// outage, once they are back, at its end. down bound the outage, read while every
	// request is answered 503: a request between two faults counts in neither window.
	stats                   [4]app.Stats
	down                    [2]app.Stats
	callsBefore, callsAfter map[string]map[string]int // per credential, inside the outage
	mu                      sync.Mutex
	leaderKills             []leaderKill
}

// leaderKill is one kill aimed at the leader.
type leaderKill struct {
	at       time.Time
	replica  string
	holder   string        // the Lease's holder when it was killed
	takeover time.Duration // until the Lease had another holder; 0 if it never did
}

// action is one step of the churn's timeline.
type action struct {
	at  time.Duration // from the churn's start
	do  func(context.Context) error
	tag string
}

// churn queues jobs into both pools for cfg.churn while GitHub answers cfg.errorRate of the
// requests with errors, goes fully down once for cfg.outage, and replicas are killed at
// random moments (and the leader at planned ones).
func (e *environment) churn(ctx context.Context, r *runRecord) error {
	cfg := e.cfg
	var timeline []action
	timeline = append(timeline, e.planJobs(r)...)
	for range cfg.kills {
		at := time.Duration((0.05 + 0.9*rand.Float64()) * float64(cfg.churn)) //nolint:gosec // a random moment
		timeline = append(timeline, action{at: at, tag: "kill", do: func(context.Context) error { e.killRandom(r); return nil }})
	}
	var wg sync.WaitGroup
	for _, at := range leaderKillTimes(cfg) {
		timeline = append(timeline, action{at: at, tag: "kill the leader", do: func(ctx context.Context) error {
			wg.Add(1)
			go func() { defer wg.Done(); e.killLeader(ctx, r) }()
			return nil
		}})
	}
	timeline = append(timeline,
		action{at: cfg.outageAt, tag: "outage starts", do: func(ctx context.Context) error { return e.outageStarts(ctx, r) }},
		action{at: cfg.outageAt + cfg.outage, tag: "outage ends", do: func(ctx context.Context) error { return e.outageEnds(ctx, r) }})
	sort.SliceStable(timeline, func(i, j int) bool { return timeline[i].at < timeline[j].at })

	e.log.logf("churn: %d jobs over %s, %d random kills, %d leader kills, %s outage at %s, %.0f%% errors",
		cfg.jobs, cfg.churn, cfg.kills, cfg.leaderKills, cfg.outage, cfg.outageAt, 100*cfg.errorRate)
	var err error
	if r.stats[0], err = e.gh.Stats(ctx); err != nil {
		return err
	}
	if err := e.errorsOn(ctx); err != nil {
		return err
	}
	r.churnStart = time.Now()
	progress := time.Now()
	for _, a := range timeline {
		if err := sleepUntil(ctx, r.churnStart.Add(a.at)); err != nil {
			return err
		}
		if err := a.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", a.tag, err)
		}
		if time.Since(progress) > 30*time.Second {
			progress = time.Now()
			e.log.logf("churn: %s in, %d jobs queued", time.Since(r.churnStart).Round(time.Second), r.queued)
		}
	}
	if err := sleepUntil(ctx, r.churnStart.Add(cfg.churn)); err != nil {
		return err
	}
	if err := e.gh.ClearFaults(ctx); err != nil {
		return err
	}
	r.churnEnd = time.Now()
	if r.stats[3], err = e.gh.Stats(ctx); err != nil {
		return err
	}
	wg.Wait()
	return nil
}

// leaderKillTimes spreads the leader kills evenly over the churn outside the outage (and
// the Lease before it), so that the outage is measured with a leader at work.
func leaderKillTimes(cfg config) []time.Duration {
	type span struct{ from, to time.Duration }
	spans := []span{
		{10 * time.Second, cfg.outageAt - leaseDuration - 5*time.Second},
		{cfg.outageAt + cfg.outage + 5*time.Second, cfg.churn - 15*time.Second},
	}
	total := time.Duration(0)
	for _, sp := range spans {
		total += max(0, sp.to-sp.from)
	}
	var out []time.Duration
	for i := range cfg.leaderKills {
		pos := time.Duration((float64(i) + 0.5) * float64(total) / float64(cfg.leaderKills))
		for _, sp := range spans {
			length := max(0, sp.to-sp.from)
			if pos < length {
				out = append(out, sp.from+pos)
				break
			}
			pos -= length
		}
	}
	return out
}

// planJobs spreads cfg.jobs over the churn in batches of 1 to 5 (a batch can exceed a
// pool's free runners: maxRunners must hold), each batch for one pool.
func (e *environment) planJobs(r *runRecord) []action {
	var sizes []int
	for left := e.cfg.jobs; left > 0; {
		n := min(left, 1+rand.IntN(5)) //nolint:gosec // a random batch
		sizes = append(sizes, n)
		left -= n
	}
	out := make([]action, 0, len(sizes))
	for i, n := range sizes {
		pools := e.cfg.pools
		pool := pools[len(pools)-1].name
		if rand.Float64() < pools[0].share { //nolint:gosec // a random pool
			pool = pools[0].name
		}
		at := time.Duration(float64(e.cfg.churn) * float64(i) / float64(len(sizes)))
		out = append(out, action{at: at, tag: "queue jobs", do: func(ctx context.Context) error {
			_, err := e.gh.Queue(ctx, app.QueueRequest{Count: n, Labels: labelsOf(pool), Duration: e.cfg.jobDuration.String()})
			if err == nil {
				r.queued += n
			}
			return err
		}})
	}
	return out
}

// errorsOn makes the fake answer cfg.errorRate of the REST requests with an error.
func (e *environment) errorsOn(ctx context.Context) error {
	return e.gh.InjectFault(ctx, app.FaultRequest{Probability: e.cfg.errorRate, Statuses: errorStatuses(), RetryAfter: "1s"})
}

// outageStarts takes GitHub's REST API fully down: every request is answered 503.
func (e *environment) outageStarts(ctx context.Context, r *runRecord) error {
	var err error
	if r.stats[1], err = e.gh.Stats(ctx); err != nil {
		return err
	}
	if err := e.gh.ClearFaults(ctx); err != nil {
		return err
	}
	if err := e.gh.InjectFault(ctx, app.FaultRequest{Status: http.StatusServiceUnavailable}); err != nil {
		return err
	}
	r.outageStart = time.Now()
	if r.down[0], err = e.gh.Stats(ctx); err != nil {
		return err
	}
	if r.callsBefore, err = e.gh.CallsByCredential(ctx); err != nil {
		return err
	}
	e.log.logf("GitHub is down for %s: every REST request is answered 503", e.cfg.outage)
	return nil
}

// outageEnds brings GitHub back, with the random errors of the churn, once the outage
// lasted its full length.
func (e *environment) outageEnds(ctx context.Context, r *runRecord) error {
	if err := sleepUntil(ctx, r.outageStart.Add(e.cfg.outage)); err != nil {
		return err
	}
	var err error
	if r.down[1], err = e.gh.Stats(ctx); err != nil {
		return err
	}
	if r.callsAfter, err = e.gh.CallsByCredential(ctx); err != nil {
		return err
	}
	if err := e.gh.ClearFaults(ctx); err != nil {
		return err
	}
	r.outageEnd = time.Now()
	e.log.logf("GitHub is back")
	if err := e.errorsOn(ctx); err != nil {
		return err
	}
	r.stats[2], err = e.gh.Stats(ctx)
	return err
}

// killRandom sends SIGKILL to a random running replica.
func (e *environment) killRandom(r *runRecord) {
	for _, i := range rand.Perm(len(e.replicas)) { //nolint:gosec // a random replica
		if e.replicas[i].kill() {
			return
		}
	}
	r.mu.Lock()
	r.killsSkipped++
	r.mu.Unlock()
}

// killLeader kills the replica that leads (waiting up to a minute for one) and measures how
// long until the Lease has another holder.
func (e *environment) killLeader(ctx context.Context, r *runRecord) {
	var k leaderKill
	// The leader may be restarting after a failpoint at that moment: look again.
	err := waitFor(ctx, time.Minute, "a leader to kill", func() (bool, error) {
		i := e.leader.current()
		if i < 0 {
			return false, nil
		}
		holder, _ := e.leader.lease()
		k = leaderKill{at: time.Now(), replica: e.replicas[i].c.Name(), holder: holder}
		return e.replicas[i].kill(), nil
	})
	if err != nil {
		e.log.logf("no leader to kill: %v", err)
		return
	}
	holder := k.holder
	e.log.logf("killed the leader %s (Lease holder %s)", k.replica, holder)
	if err := waitFor(ctx, 2*leaseDuration+30*time.Second, "a new Lease holder", func() (bool, error) {
		h, _ := e.leader.lease()
		return h != holder, nil
	}); err == nil {
		k.takeover = time.Since(k.at)
	}
	r.mu.Lock()
	r.leaderKills = append(r.leaderKills, k)
	r.mu.Unlock()
}

// drain lets the queued jobs complete with GitHub healthy and no more kills (failpoints stay
// armed), then waits until the run is calm: no crash for a Lease plus the grace period, and
// every failed webhook delivery recovered (or the recovery had its chances).
func (e *environment) drain(ctx context.Context, r *runRecord) error {
	e.log.logf("drain: waiting for %d queued jobs to complete (at most %s)", r.queued, e.cfg.drainTimeout)
	progress := time.Now()
	err := waitFor(ctx, e.cfg.drainTimeout, "every job completed", func() (bool, error) {
		st, err := e.gh.Stats(ctx)
		if err != nil {
			return false, err
		}
		if time.Since(progress) > 30*time.Second {
			progress = time.Now()
			e.log.logf("drain: %d of %d jobs completed, %d running, %d queued", st.JobsCompleted, r.queued, st.JobsInProgress, st.JobsQueued)
		}
		return st.JobsCompleted >= r.queued, nil
	})
	if err == nil {
		r.drained = time.Now()
	} else if ctx.Err() != nil {
		return err
	} else {
		e.log.logf("drain: %v", err)
	}
	quiet := e.cfg.orphanGrace + e.cfg.sweep + slack
	_ = waitFor(ctx, 3*time.Minute, "calm", func() (bool, error) {
		last := r.churnEnd
		for _, rep := range e.replicas {
			for _, x := range rep.exitLog() {
				if x.at.After(last) {
					last = x.at
				}
			}
		}
		if time.Since(last) <= leaseDuration+quiet || time.Since(r.churnEnd) <= quiet {
			return false, nil
		}
		// An orphan is removed by the sweep that finds it seen for the grace period; a pool
		// whose forge still backs off (the outage's backoff, doubled by random errors) has
		// not swept that late yet.
		return e.sweptSince(ctx, last.Add(e.cfg.orphanGrace))
	})
	_ = waitFor(ctx, 3*recoveryInterval+slack, "every failed delivery recovered", func() (bool, error) {
		d, err := e.gh.Deliveries(ctx)
		if err != nil {
			return false, err
		}
		return len(unrecovered(d)) == 0, nil
	})
	r.calm = time.Now()
	return nil
}

// sweptSince reports whether every pool's last sweep was at t or later.
func (e *environment) sweptSince(ctx context.Context, t time.Time) (bool, error) {
	var pools corralv1.RunnerPoolList
	if err := e.cluster.Client.List(ctx, &pools, client.InNamespace(namespace)); err != nil {
		return false, err
	}
	for _, p := range pools.Items {
		if s := p.Status.History.LastSweepTime; s == nil || s.Time.Before(t) {
			return false, nil
		}
	}
	return true, nil
}

// sleepUntil sleeps until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}
