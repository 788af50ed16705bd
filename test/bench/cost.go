//go:build bench

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/harness"
)

// snapshot is the state of the counters at one instant.
type snapshot struct {
	at     time.Time
	calls  calls                     // the fake's calls by endpoint
	creds  map[string]map[string]int // the fake's calls by credential, by endpoint
	stats  app.Stats
	corral harness.Metrics
}

func (e *environment) snapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{at: time.Now()}
	c, err := e.gh.Calls(ctx)
	if err != nil {
		return s, fmt.Errorf("reading the fake's call counts: %w", err)
	}
	s.calls = calls(c)
	if s.creds, err = e.gh.CallsByCredential(ctx); err != nil {
		return s, fmt.Errorf("reading the fake's calls by credential: %w", err)
	}
	if s.stats, err = e.gh.Stats(ctx); err != nil {
		return s, fmt.Errorf("reading the fake's stats: %w", err)
	}
	if s.corral, err = harness.Scrape(ctx, e.metricsURL, ""); err != nil {
		return s, err
	}
	return s, nil
}

// cost is what corral spent between two snapshots, on GitHub (the fake with GitHub's limits)
// and on the API server.
type cost struct {
	start  time.Time
	window time.Duration
	// runners ran a job in the window (the per-runner denominators).
	runners int
	calls   calls
	// jitByApp counts JIT registrations per App (the fake's AppInfo order); mints the
	// tokens minted per installation.
	jitByApp []int
	mints    map[int64]int
	// limited counts the fake's rate-limit refusals of corral's requests; rejected corral's
	// own count of 403 and 429 answers (corral_github_requests_total).
	limited  int
	rejected float64
	writes   writeCounts
	// clientWrites is corral's own count of its non-GET requests (client-go's
	// rest_client_requests_total), a cross-check of the audit log's count.
	clientWrites float64
	cpu          float64
}

// cost is what happened between before and after, for runners that ran a job.
func (e *environment) cost(before, after snapshot, runners int) cost {
	c := cost{start: before.at, window: after.at.Sub(before.at), runners: runners, calls: after.calls.minus(before.calls), mints: map[int64]int{}}
	for _, a := range e.fake.Info.Apps {
		c.jitByApp = append(c.jitByApp, after.creds[a.Credential][endpointOrgJIT]-before.creds[a.Credential][endpointOrgJIT])
		c.mints[a.InstallationID] = after.stats.TokenMints[a.InstallationID] - before.stats.TokenMints[a.InstallationID]
		c.limited += after.stats.RateLimited[a.Credential] - before.stats.RateLimited[a.Credential]
		c.limited += after.stats.RateLimited[a.JWTCredential] - before.stats.RateLimited[a.JWTCredential]
	}
	d := after.corral.Minus(before.corral)
	c.rejected = d.Sum("corral_github_requests_total", `code="403"`) + d.Sum("corral_github_requests_total", `code="429"`)
	c.clientWrites = d.Sum("rest_client_requests_total") - d.Sum("rest_client_requests_total", `method="GET"`)
	c.cpu = d.Sum("process_cpu_seconds_total")
	c.writes = countWrites(e.audit.between(before.at, after.at))
	return c
}

// phaseCost is what a phase that began at before spent until now, for pool's runners that
// ran a job.
func (e *environment) phaseCost(ctx context.Context, before snapshot, pool string) (cost, error) {
	after, err := e.snapshot(ctx)
	if err != nil {
		return cost{}, err
	}
	done, err := completedJobs(ctx, e.gh, pool)
	if err != nil {
		return cost{}, err
	}
	return e.cost(before, after, done), nil
}

// githubCalls is the GitHub calls of the window, every endpoint.
func (c cost) githubCalls() int {
	n := 0
	for ep, v := range c.calls {
		if ep != "total" {
			n += v
		}
	}
	return n
}

// completedJobs counts the completed jobs of pool (labels self-hosted, linux, pool) that
// kept their runner to the end.
func completedJobs(ctx context.Context, gh *app.Client, pool string) (int, error) {
	jobs, err := gh.Jobs(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the fake's jobs: %w", err)
	}
	n := 0
	for _, j := range jobs {
		if j.State == app.JobCompleted && !j.Lost && len(j.Labels) == 3 && j.Labels[2] == pool {
			n++
		}
	}
	return n, nil
}
