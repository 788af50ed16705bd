//go:build bench

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
)

// burstResult is one burst's row.
type burstResult struct {
	n, credentials      int
	sendSpan            time.Duration
	created, running    []time.Duration
	total, totalRunning time.Duration
	bound               time.Duration // what GitHub's limits imply for the credentials
	delivered           int
	cost                cost
}

// burst sends n queued deliveries at once into a fresh pool with maxRunners n whose runners
// register with the fake's first `credentials` Apps, waits until n runner pods exist and
// run, then until the jobs completed and the pool drained. One-credential bursts are
// profiled.
func (e *environment) burst(ctx context.Context, pt *podTimes, n, credentials int) (burstResult, error) {
	r := burstResult{n: n, credentials: credentials, bound: limitBound(n, credentials)}
	name := fmt.Sprintf("burst-%d", n)
	if credentials > 1 {
		name = fmt.Sprintf("burst-%d-apps-%d", n, credentials)
	}
	apps, err := e.fake.WithApps(credentials)
	if err != nil {
		return r, err
	}
	if err := e.createPool(ctx, nsLimits, name, e.fake, 0, int32(n), apps); err != nil {
		return r, err
	}
	if err := sleep(ctx, 2*time.Second); err != nil { // the pool's first reconcile (no runner: minIdle 0)
		return r, err
	}
	before, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	stopCPU := func() {}
	if credentials == 1 {
		stopCPU = e.prof.cpu(ctx, name)
	}
	t0 := time.Now()
	resp, err := e.gh.Queue(ctx, app.QueueRequest{Count: n, Labels: []string{"self-hosted", "linux", name}})
	if err != nil {
		stopCPU()
		return r, fmt.Errorf("queueing %d jobs: %w", n, err)
	}
	r.sendSpan, r.delivered = time.Since(t0), resp.Delivered
	starts := make([]time.Time, n)
	for i := range starts {
		starts[i] = t0
	}
	timeout := r.bound*2 + 3*time.Minute
	created, running, err := waitPods(ctx, pt, name, n, timeout)
	stopCPU()
	if credentials == 1 {
		e.prof.heap(ctx, name)
	}
	r.created, r.running = latencies(starts, created), latencies(starts, running)
	if len(created) > 0 {
		r.total = created[len(created)-1].Sub(t0)
	}
	if len(running) > 0 {
		r.totalRunning = running[len(running)-1].Sub(t0)
	}
	if err != nil {
		return r, err
	}
	if err := e.waitDrained(ctx, e.gh, pt, name, n, timeout); err != nil {
		return r, err
	}
	if r.cost, err = e.phaseCost(ctx, before, name); err != nil {
		return r, err
	}
	return r, nil
}

// waitPods waits until pool has n pods created and n seen Running.
func waitPods(ctx context.Context, pt *podTimes, pool string, n int, timeout time.Duration) (created, running []time.Time, err error) {
	deadline := time.Now().Add(timeout)
	for {
		created, running, _ = pt.pool(pool)
		if len(created) >= n && len(running) >= n {
			return created, running, nil
		}
		if time.Now().After(deadline) {
			return created, running, fmt.Errorf("pool %s: %d of %d pods created, %d running after %s", pool, len(created), n, len(running), timeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return created, running, err
		}
	}
}

// waitDrained waits until the pool's jobs completed on the fake gh and none of its pods is
// left.
func (e *environment) waitDrained(ctx context.Context, gh *app.Client, pt *podTimes, pool string, jobs int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, _, live := pt.pool(pool)
		done, err := completedJobs(ctx, gh, pool)
		if err == nil && live == 0 && done >= jobs {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pool %s not drained after %s: %d pods left, %d of %d jobs completed", pool, timeout, live, done, jobs)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// limitBound is the time GitHub's secondary limits imply for n JIT registrations from
// credentials credentials (one App each), each allowed 80 content-creating requests per
// sliding minute (and 900 points = 180 JIT POSTs per endpoint, never the tighter one): the
// first 80 per credential at once, each further 80 one minute later, so
// floor((n-1)/(80k)) minutes.
func limitBound(n, credentials int) time.Duration {
	return time.Duration((n-1)/(80*credentials)) * time.Minute
}
