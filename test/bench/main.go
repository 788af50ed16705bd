//go:build bench

// Command bench measures Corral against the targets of its performance issue on a local
// control plane with kwok fake nodes and the fake GitHub (cmd/fake-github) with GitHub's
// published rate limits and an injected API latency: burst scale-up with one and several
// GitHub Apps, a warm pool taking jobs, GitHub API and Kubernetes API cost per runner (the
// API server's audit log), memory and CPU at scale, sustained churn below and at the limit,
// CPU and heap profiles, and the results against the targets. It prints markdown tables
// (docs/performance.md records a run).
//
//	make bench                                   # full size (about 55 minutes)
//	make bench-smoke                             # a tiny size that checks the harness works
//	go run -tags bench ./test/bench -size smoke -bursts 10,100
//
// It builds corral and fake-github from this checkout and starts its own cluster in
// .cache/bench-cluster (random ports); logs stay in .cache/bench/logs, profiles in
// .cache/bench/profiles.
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

	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/harness"
)

const (
	endpointAccessToken = githubtest.EndpointAccessToken
	endpointOrgJIT      = githubtest.EndpointOrgJIT
	endpointOrgRunners  = githubtest.EndpointOrgRunners
	endpointDeliveries  = githubtest.EndpointAppHookDeliveries
	endpointDelivery    = githubtest.EndpointAppHookDelivery
)

// config is the harness's size and knobs.
type config struct {
	size               string
	bursts             []int
	multiBursts        []int // burst sizes repeated with several credentials
	credentials        []int // credential counts of those repeats
	latency            time.Duration
	jobDuration        time.Duration
	churn, limitChurn  time.Duration
	churnRate          float64
	limitRate          float64
	warmIdle, warmJobs int
	warmInterval       time.Duration
	runners, others    int
	idle, steady       time.Duration
	windowReset        time.Duration
	statusInterval     time.Duration
	pullJobs           int
	pullSpacing        time.Duration
	pullJobDuration    time.Duration
	pullIdle           time.Duration
	pullLogDelay       time.Duration
	k8sBin, helm       string
	corralFlags        []string
	corralEnv          []string
	profiles           bool
}

// maxCredentials is the largest credential count a run uses: the fake installs that many Apps.
func (c config) maxCredentials() int {
	n := 1
	for _, k := range c.credentials {
		n = max(n, k)
	}
	return n
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c config
	var bursts, multi, creds string
	fs.StringVar(&c.size, "size", "full", "Preset: full (the issue's sizes) or smoke (seconds); the flags below override it.")
	fs.StringVar(&bursts, "bursts", "", "Comma-separated burst sizes run with one credential (full: 50,200,500; smoke: 10).")
	fs.StringVar(&multi, "multi-bursts", "", "Burst sizes run again with each of -credentials (full: 200,500; smoke: 10).")
	fs.StringVar(&creds, "credentials", "", "Credential counts (GitHub Apps, one Secret each) of the -multi-bursts (full and smoke: 2,4).")
	fs.DurationVar(&c.latency, "latency", 100*time.Millisecond, "Latency the fake GitHub adds to every API answer.")
	fs.DurationVar(&c.jobDuration, "job-duration", 2*time.Second, "How long each job runs once a runner took it.")
	fs.DurationVar(&c.churn, "churn", 0, "Duration of the churn below the limit (full: 10m; smoke: 10s).")
	fs.Float64Var(&c.churnRate, "churn-rate", 72, "Jobs per minute of that churn (72: 90% of one installation's 80 content-creating requests per minute).")
	fs.DurationVar(&c.limitChurn, "limit-churn", 0, "Duration of the churn at the limit (full: 3m; smoke: 10s).")
	fs.Float64Var(&c.limitRate, "limit-churn-rate", 80, "Jobs per minute of the churn at the limit.")
	fs.IntVar(&c.warmIdle, "warm-idle", 0, "Idle runners (minIdle) of the warm-pool phase (full: 5; smoke: 2).")
	fs.IntVar(&c.warmJobs, "warm-jobs", 0, "Jobs sent one at a time to the warm pool (full: 60; smoke: 3).")
	fs.DurationVar(&c.warmInterval, "warm-interval", 2*time.Second, "Time between two jobs of the warm-pool phase.")
	fs.IntVar(&c.runners, "runners", 0, "Idle runner pods of the scale phase (full: 1000; smoke: 20).")
	fs.IntVar(&c.others, "others", 0, "Unrelated pods of the scale phase (full: 10000; smoke: 100).")
	fs.DurationVar(&c.idle, "idle", 0, "Window of the nothing-to-do phase (full: 60s; smoke: 5s).")
	fs.DurationVar(&c.steady, "steady", 0, "Window measured at scale once every runner runs (full: 60s; smoke: 5s).")
	fs.DurationVar(&c.statusInterval, "status-interval", controller.DefaultStatusInterval, "corral's --status-interval: count-only status writes of a pool at most once per interval, as judged.")
	fs.IntVar(&c.pullJobs, "pull-jobs", 0, "Jobs of the pull-mode phase, whose App has no reachable webhook URL (full: 50; smoke: 5; -1 skips the phase).")
	fs.DurationVar(&c.pullSpacing, "pull-spacing", time.Second, "Time between two jobs queued in the pull-mode phase.")
	fs.DurationVar(&c.pullJobDuration, "pull-job-duration", 30*time.Second, "How long each job of the pull-mode phase runs (a job shorter than the pull's lag gets a second runner).")
	fs.DurationVar(&c.pullIdle, "pull-idle", 0, "Idle window of the pull-mode phase, counting the reads that find nothing (full: 60s; smoke: 10s).")
	fs.DurationVar(&c.pullLogDelay, "pull-log-delay", time.Second, "How long after a delivery attempt the fake shows it in the App's delivery log.")
	corralFlags := fs.String("corral-flags", "", "Extra space-separated flags for corral, e.g. --runner-create-concurrency=16.")
	fs.Var(envFlag{&c.corralEnv}, "corral-env", "KEY=VALUE added to corral's environment (repeat it); overrides what the chart sets, e.g. GOMEMLIMIT=64MiB.")
	fs.StringVar(&c.helm, "helm", os.Getenv("HELM"), "helm binary rendering charts/corral, whose GOMEMLIMIT (and GOGC) corral then runs with; none skips it.")
	fs.BoolVar(&c.profiles, "profiles", true, "Fetch CPU and heap profiles during the bursts and the scale phase (when corral has "+harness.PprofFlag+").")
	fs.StringVar(&c.k8sBin, "k8s-bin", os.Getenv("K8S_BIN"), "Directory of etcd, kube-apiserver, ..., kubectl and kwok.")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	full := c.size != "smoke"
	harness.Preset(&c.churn, full, 10*time.Minute, 10*time.Second)
	harness.Preset(&c.limitChurn, full, 3*time.Minute, 10*time.Second)
	harness.Preset(&c.idle, full, time.Minute, 5*time.Second)
	harness.Preset(&c.steady, full, time.Minute, 5*time.Second)
	harness.Preset(&c.windowReset, full, 61*time.Second, 0)
	harness.Preset(&c.warmIdle, full, 5, 2)
	harness.Preset(&c.warmJobs, full, 60, 3)
	harness.Preset(&c.runners, full, 1000, 20)
	harness.Preset(&c.others, full, 10000, 100)
	harness.Preset(&c.pullJobs, full, 50, 5)
	harness.Preset(&c.pullIdle, full, time.Minute, 10*time.Second)
	harness.Preset(&bursts, full, "50,200,500", "10")
	harness.Preset(&multi, full, "200,500", "10")
	harness.Preset(&creds, full, "2,4", "2,4")
	var err error
	if c.bursts, err = positiveInts(bursts); err != nil {
		return c, err
	}
	if c.multiBursts, err = positiveInts(multi); err != nil {
		return c, err
	}
	if c.credentials, err = positiveInts(creds); err != nil {
		return c, err
	}
	if c.maxCredentials() > 9 {
		return c, fmt.Errorf("a pool takes at most 9 credentials, not %d", c.maxCredentials())
	}
	if c.statusInterval <= 0 {
		return c, fmt.Errorf("-status-interval must be positive, not %s", c.statusInterval)
	}
	c.corralFlags = append(strings.Fields(*corralFlags), "--status-interval="+c.statusInterval.String())
	return c, nil
}

// positiveInts parses a comma-separated list of positive numbers, sorted ("" is none).
func positiveInts(s string) ([]int, error) {
	var out []int
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		n, err := strconv.Atoi(item)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", item)
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

// envFlag collects KEY=VALUE flags.
type envFlag struct{ list *[]string }

func (f envFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, " ")
}

func (f envFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*f.list = append(*f.list, v)
	return nil
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

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
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
	res := &results{cfg: cfg, corralEnv: e.corral.Options.Env, chartEnv: e.chartEnv, profilesOn: e.prof != nil}
	if err := e.runPhases(ctx, pt, res); err != nil {
		return err
	}
	stats, err := e.gh.Stats(ctx)
	if err != nil {
		return fmt.Errorf("reading the fake's stats: %w", err)
	}
	res.mintsTotal, res.apps, res.runTime = stats.TokenMints, e.fake.Info.Apps, time.Since(start)
	res.profiles = e.prof.saved()
	res.print(os.Stdout)
	return nil
}

// runPhases runs the phases in order, each starting with GitHub's rate-limit windows empty.
func (e *environment) runPhases(ctx context.Context, pt *podTimes, res *results) error {
	cfg := e.cfg
	type burstRun struct{ n, credentials int }
	var runs []burstRun
	for _, n := range cfg.bursts {
		runs = append(runs, burstRun{n, 1})
	}
	for _, n := range cfg.multiBursts {
		for _, k := range cfg.credentials {
			runs = append(runs, burstRun{n, k})
		}
	}
	for i, r := range runs {
		logf("burst of %d deliveries, %d credential(s)", r.n, r.credentials)
		b, err := e.burst(ctx, pt, r.n, r.credentials)
		res.bursts = append(res.bursts, b)
		if err != nil {
			return fmt.Errorf("burst %d with %d credentials: %w", r.n, r.credentials, err)
		}
		logf("burst %d (%d credentials): all pods created in %s", r.n, r.credentials, b.total.Round(time.Millisecond))
		rest := cfg.windowReset // the next phase starts with a fresh rate-limit window
		if i == 0 {
			logf("nothing to do for %s", cfg.idle)
			if res.idle, err = e.idle(ctx, cfg.idle); err != nil {
				return err
			}
			rest -= cfg.idle
		}
		if err := sleep(ctx, max(rest, 0)); err != nil {
			return err
		}
	}
	var err error
	logf("warm pool: %d idle runners, %d jobs one every %s", cfg.warmIdle, cfg.warmJobs, cfg.warmInterval)
	if res.warm, err = e.warm(ctx, pt, cfg.warmIdle, cfg.warmJobs, cfg.warmInterval); err != nil {
		return fmt.Errorf("warm pool: %w", err)
	}
	for _, c := range []struct {
		name string
		rate float64
		d    time.Duration
		into *churnResult
	}{{"churn", cfg.churnRate, cfg.churn, &res.churn}, {"churn-limit", cfg.limitRate, cfg.limitChurn, &res.limitChurn}} {
		if err := sleep(ctx, cfg.windowReset); err != nil {
			return err
		}
		logf("%s at %.0f jobs/min for %s", c.name, c.rate, c.d)
		if *c.into, err = e.churn(ctx, pt, c.name, c.rate, c.d); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if cfg.pullJobs > 0 {
		logf("pull mode: %s idle, then %d jobs one every %s", cfg.pullIdle, cfg.pullJobs, cfg.pullSpacing)
		if res.pull, err = e.pull(ctx, pt, cfg.pullJobs, cfg.pullSpacing, cfg.pullIdle); err != nil {
			return fmt.Errorf("pull mode: %w", err)
		}
	}
	logf("scale: %d runner pods among %d unrelated pods", cfg.runners, cfg.others)
	if res.scale, err = e.scale(ctx, pt, cfg.runners, cfg.others, cfg.steady); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	return nil
}
