//go:build bench

// Command bench measures Corral (issue 10) on a local control plane with kwok fake nodes and
// the fake GitHub (cmd/fake-github) with GitHub's published rate limits and an injected API
// latency: burst scale-up, GitHub API and API server cost per runner, memory and CPU at
// scale, sustained churn, and the results against the project's targets. It prints markdown
// tables (docs/performance.md records a run).
//
//	make bench                                   # full size (about 20 minutes)
//	make bench-smoke                             # a tiny size that checks the harness works
//	go run -tags bench ./test/bench -size smoke -bursts 10,100
//
// It builds corral and fake-github from this checkout and starts its own cluster in
// .cache/bench-cluster (random ports); logs stay in .cache/bench/logs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/harness"
)

const (
	endpointAccessToken = githubtest.EndpointAccessToken
	endpointOrgJIT      = githubtest.EndpointOrgJIT
)

// config is the harness's size and knobs.
type config struct {
	size              string
	bursts            []int
	latency           time.Duration
	jobDuration       time.Duration
	churn             time.Duration
	churnRate         float64
	runners, others   int
	idle, steady      time.Duration
	windowReset       time.Duration
	k8sBin            string
	corralFlags       []string
	skipScale, noWait bool
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c config
	var bursts string
	fs.StringVar(&c.size, "size", "full", "Preset: full (the issue's sizes) or smoke (seconds); the flags below override it.")
	fs.StringVar(&bursts, "bursts", "", "Comma-separated burst sizes (full: 50,200,500; smoke: 10).")
	fs.DurationVar(&c.latency, "latency", 100*time.Millisecond, "Latency the fake GitHub adds to every API answer.")
	fs.DurationVar(&c.jobDuration, "job-duration", 2*time.Second, "How long each job runs once a runner took it.")
	fs.DurationVar(&c.churn, "churn", 0, "Duration of the churn phase (full: 3m; smoke: 10s).")
	fs.Float64Var(&c.churnRate, "churn-rate", 80, "Jobs queued per minute in the churn phase (GitHub: 80 content-creating requests per minute).")
	fs.IntVar(&c.runners, "runners", 0, "Idle runner pods of the scale phase (full: 1000; smoke: 20).")
	fs.IntVar(&c.others, "others", 0, "Unrelated pods of the scale phase (full: 10000; smoke: 100).")
	fs.DurationVar(&c.idle, "idle", 0, "Window of the nothing-to-do phase (full: 60s; smoke: 5s).")
	fs.DurationVar(&c.steady, "steady", 0, "Window measured at scale once every runner runs (full: 60s; smoke: 5s).")
	corralFlags := fs.String("corral-flags", "", "Extra space-separated flags for corral, e.g. --runner-create-concurrency=16.")
	fs.StringVar(&c.k8sBin, "k8s-bin", os.Getenv("K8S_BIN"), "Directory of etcd, kube-apiserver, ..., kubectl and kwok.")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	full := c.size != "smoke"
	harness.Preset(&c.churn, full, 3*time.Minute, 10*time.Second)
	harness.Preset(&c.idle, full, time.Minute, 5*time.Second)
	harness.Preset(&c.steady, full, time.Minute, 5*time.Second)
	harness.Preset(&c.windowReset, full, 61*time.Second, 0)
	harness.Preset(&c.runners, full, 1000, 20)
	harness.Preset(&c.others, full, 10000, 100)
	harness.Preset(&bursts, full, "50,200,500", "10")
	for _, s := range strings.Split(bursts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return c, fmt.Errorf("burst size %q is not a positive number", s)
		}
		c.bursts = append(c.bursts, n)
	}
	sort.Ints(c.bursts)
	c.corralFlags = strings.Fields(*corralFlags)
	return c, nil
}

func main() {
	harness.Main("bench", func(ctx context.Context, args []string) error {
		cfg, err := parseFlags(args)
		if err != nil {
			return harness.UsageError(err)
		}
		return run(ctx, cfg)
	})
}

// logf prints progress to standard error (the tables go to standard output).
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) error {
	start := time.Now()
	e, err := setUp(ctx, cfg)
	defer e.tearDown()
	if err != nil {
		return err
	}
	pt, err := watchRunnerPods(ctx, e)
	if err != nil {
		return err
	}
	res := &results{cfg: cfg}
	for i, n := range cfg.bursts {
		logf("burst of %d deliveries", n)
		b, err := e.burst(ctx, pt, n)
		res.bursts = append(res.bursts, b)
		if err != nil {
			return fmt.Errorf("burst %d: %w", n, err)
		}
		logf("burst %d: all pods created in %s", n, b.total.Round(time.Millisecond))
		if i == 0 {
			logf("nothing to do for %s", cfg.idle)
			if res.idle, err = e.idle(ctx, cfg.idle); err != nil {
				return err
			}
		} else {
			time.Sleep(cfg.windowReset) // the next burst starts with a fresh rate-limit window
		}
	}
	logf("churn at %.0f jobs/min for %s", cfg.churnRate, cfg.churn)
	if res.churn, err = e.churn(ctx, pt, cfg.churnRate, cfg.churn); err != nil {
		return fmt.Errorf("churn: %w", err)
	}
	logf("scale: %d runner pods among %d unrelated pods", cfg.runners, cfg.others)
	if res.scale, err = e.scale(ctx, pt, cfg.runners, cfg.others, cfg.steady); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	all, err := e.gh.Calls(ctx)
	if err != nil {
		return fmt.Errorf("reading the fake's calls: %w", err)
	}
	res.mintsTotal, res.runTime = all[endpointAccessToken], time.Since(start)
	res.print(os.Stdout)
	return nil
}
