//go:build bench

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/harness"
)

// churnResult is one sustained-churn run.
type churnResult struct {
	pool            string
	rate            float64 // jobs per minute queued
	duration        time.Duration
	queued, created int
	latency         []time.Duration
	perMinute       []minuteStat
	// samples are corral's RSS and goroutines at the start and at the end of each minute.
	samples []processSample
	cost    cost
}

// minuteStat is queue-to-pod latency of the jobs queued in one minute of the run.
type minuteStat struct {
	jobs     int
	p50, p99 time.Duration
}

// processSample is corral's memory and goroutines at one instant.
type processSample struct {
	at              time.Time
	rss, goroutines float64
}

func sampleProcess(m harness.Metrics) processSample {
	return processSample{at: time.Now(), rss: m.Sum("process_resident_memory_bytes"), goroutines: m.Sum("go_goroutines")}
}

// churn queues one job every minute/rate for d into a fresh pool (jobs run jobDuration,
// each runner is replaced by a new one for the next job) and measures latency per minute,
// corral's RSS and goroutines each minute, and what it cost.
func (e *environment) churn(ctx context.Context, pt *podTimes, name string, rate float64, d time.Duration) (churnResult, error) {
	r := churnResult{pool: name, rate: rate, duration: d}
	if err := e.createPool(ctx, nsLimits, name, e.fake, 0, 200); err != nil {
		return r, err
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return r, err
	}
	before, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	r.samples = append(r.samples, sampleProcess(before.corral))
	starts, err := e.queueSteadily(ctx, name, rate, d, &r)
	if err != nil {
		return r, err
	}
	r.queued = len(starts)
	created, _, err := waitPods(ctx, pt, name, r.queued, 3*time.Minute)
	if err != nil {
		logf("%s: %v", name, err)
	}
	r.created = len(created)
	r.latency = latencies(starts, created)
	r.perMinute = perMinute(starts, created)
	if err := e.waitDrained(ctx, e.gh, pt, name, r.queued, 3*time.Minute); err != nil {
		logf("%s: %v", name, err)
	}
	if r.cost, err = e.phaseCost(ctx, before, name); err != nil {
		return r, err
	}
	return r, nil
}

// queueSteadily queues one job every minute/rate for d and samples corral each minute; it
// returns when each job was queued.
func (e *environment) queueSteadily(ctx context.Context, name string, rate float64, d time.Duration, r *churnResult) ([]time.Time, error) {
	tick := time.NewTicker(time.Duration(float64(time.Minute) / rate))
	defer tick.Stop()
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	end := time.Now().Add(d)
	var starts []time.Time
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return starts, ctx.Err()
		case <-progress.C:
			logf("%s: %d jobs queued, %s left", name, len(starts), time.Until(end).Round(time.Second))
		case <-minute.C:
			m, err := harness.Scrape(ctx, e.metricsURL, "")
			if err != nil {
				return starts, err
			}
			r.samples = append(r.samples, sampleProcess(m))
		case <-tick.C:
			t := time.Now()
			if _, err := e.gh.Queue(ctx, app.QueueRequest{Count: 1, Labels: []string{"self-hosted", "linux", name}}); err != nil {
				return starts, fmt.Errorf("queueing a churn job: %w", err)
			}
			starts = append(starts, t)
		}
	}
	if d%time.Minute != 0 || len(r.samples) == 1 { // the end of a partial last minute
		m, err := harness.Scrape(ctx, e.metricsURL, "")
		if err != nil {
			return starts, err
		}
		r.samples = append(r.samples, sampleProcess(m))
	}
	return starts, nil
}

// perMinute is the queue-to-pod latency of the jobs queued in each minute from the first
// (the i-th start paired with the i-th pod).
func perMinute(starts, created []time.Time) []minuteStat {
	if len(starts) == 0 {
		return nil
	}
	var out []minuteStat
	for m := 0; ; m++ {
		lo, hi := starts[0].Add(time.Duration(m)*time.Minute), starts[0].Add(time.Duration(m+1)*time.Minute)
		if lo.After(starts[len(starts)-1]) {
			break
		}
		var in []time.Duration
		for i := range min(len(starts), len(created)) {
			if !starts[i].Before(lo) && starts[i].Before(hi) {
				in = append(in, max(0, created[i].Sub(starts[i])))
			}
		}
		sortDurations(in)
		out = append(out, minuteStat{jobs: len(in), p50: quantile(in, 0.5), p99: quantile(in, 0.99)})
	}
	return out
}

// flatness judges the run against "p99 per minute flat (within 20% minute over minute), no
// growth in goroutines or RSS": the largest change of p99 from one full minute to the next
// (a last minute with less than half the jobs of a full one is left out), and the growth of
// RSS and goroutines from the first minute's end (the start in a run shorter than two
// minutes) to the run's end.
func (r churnResult) flatness() (p99Change float64, rssGrowth, goroutineGrowth float64) {
	full := r.rate / 2
	for i := 1; i < len(r.perMinute); i++ {
		prev, cur := r.perMinute[i-1], r.perMinute[i]
		if float64(cur.jobs) < full || prev.p99 <= 0 {
			continue
		}
		change := (cur.p99.Seconds() - prev.p99.Seconds()) / prev.p99.Seconds()
		if abs(change) > abs(p99Change) {
			p99Change = change
		}
	}
	if len(r.samples) >= 2 { // from the first minute's end when there is one
		first, last := r.samples[min(1, len(r.samples)-2)], r.samples[len(r.samples)-1]
		rssGrowth = (last.rss - first.rss) / first.rss
		goroutineGrowth = (last.goroutines - first.goroutines) / first.goroutines
	}
	return p99Change, rssGrowth, goroutineGrowth
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
