//go:build bench

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
)

// churnResult is the sustained-churn phase.
type churnResult struct {
	rate              float64 // jobs per minute queued
	duration          time.Duration
	queued, created   int
	latency           []time.Duration
	perMinute         []minuteStat
	rssStart, rssEnd  float64
	gorStart, gorEnd  float64
	rejected          float64
	calls             calls
	writes            map[string]float64
	mints             int
	jitPerRunner      float64
	maxCorralRequests float64
}

// minuteStat is queue-to-pod latency of the jobs queued in one minute of the run.
type minuteStat struct {
	jobs     int
	p50, p99 time.Duration
}

// churn queues one job every minute/rate for d into one pool (jobs run jobDuration, each
// runner is replaced by a new one for the next job) and measures latency, leaks and GitHub's
// answers.
func (e *environment) churn(ctx context.Context, pt *podTimes, rate float64, d time.Duration) (churnResult, error) {
	r := churnResult{rate: rate, duration: d}
	const name = "churn"
	if err := e.createPool(ctx, nsLimits, name, e.fake, 0, 200); err != nil {
		return r, err
	}
	time.Sleep(2 * time.Second)
	before, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	r.rssStart, r.gorStart = before.corral.Sum("process_resident_memory_bytes"), before.corral.Sum("go_goroutines")
	interval := time.Duration(float64(time.Minute) / rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	sample := time.NewTicker(10 * time.Second)
	defer sample.Stop()
	end := time.Now().Add(d)
	var starts []time.Time
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-sample.C:
			logf("churn: %d jobs queued, %s left", len(starts), time.Until(end).Round(time.Second))
		case <-tick.C:
			t := time.Now()
			if _, err := e.gh.Queue(ctx, app.QueueRequest{Count: 1, Labels: []string{"self-hosted", "linux", name}}); err != nil {
				return r, fmt.Errorf("queueing a churn job: %w", err)
			}
			starts = append(starts, t)
		}
	}
	r.queued = len(starts)
	created, _, err := waitPods(ctx, pt, name, r.queued, 3*time.Minute)
	if err != nil {
		logf("churn: %v", err)
	}
	r.created = len(created)
	r.latency = latencies(starts, created)
	for m := 0; ; m++ {
		lo, hi := starts[0].Add(time.Duration(m)*time.Minute), starts[0].Add(time.Duration(m+1)*time.Minute)
		if !lo.Before(starts[len(starts)-1]) && m > 0 {
			break
		}
		var in []time.Duration
		for i := range min(len(starts), len(created)) {
			if !starts[i].Before(lo) && starts[i].Before(hi) {
				in = append(in, max(0, created[i].Sub(starts[i])))
			}
		}
		sortDurations(in)
		r.perMinute = append(r.perMinute, minuteStat{jobs: len(in), p50: quantile(in, 0.5), p99: quantile(in, 0.99)})
	}
	if err := e.waitDrained(ctx, pt, name, r.queued, 3*time.Minute); err != nil {
		logf("churn: %v", err)
	}
	after, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	r.rssEnd, r.gorEnd = after.corral.Sum("process_resident_memory_bytes"), after.corral.Sum("go_goroutines")
	r.calls = after.calls.minus(before.calls)
	diffs := after.corral.Minus(before.corral)
	r.writes = diffs.By("rest_client_requests_total", "method", func(m string) bool { return m != "GET" })
	r.rejected = diffs.Sum("corral_github_requests_total", `code="403"`) + diffs.Sum("corral_github_requests_total", `code="429"`)
	r.mints = r.calls[endpointAccessToken]
	if r.created > 0 {
		r.jitPerRunner = float64(r.calls[endpointOrgJIT]) / float64(r.created)
	}
	return r, nil
}
