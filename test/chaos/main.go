//go:build chaos

// Command chaos runs Corral through sustained job churn while everything around it fails,
// and checks the invariants that must survive: the real corral binary (built with
// -tags failpoints, two replicas with leader election) on the local kwok control plane,
// against the fake GitHub process (cmd/fake-github), driven by this program with the
// shared harness (test/harness). docs/reliability.md describes what it does and checks.
//
//	make chaos                               # full size (well under 30 minutes)
//	make chaos-smoke                         # a short run, part of make test
//	go run -tags chaos ./test/chaos -size smoke -jobs 30
//
// It prints a table of every invariant with its measured value and PASS or FAIL, and exits
// non-zero on a FAIL. The run's logs stay in .cache/chaos/<run>/.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/corral-run/corral/test/harness"
)

// config is the run's size and knobs.
type config struct {
	size         string
	jobs         int           // jobs queued in the churn phase, over both pools
	churn        time.Duration // how long jobs are queued, faults and kills happen
	jobDuration  time.Duration
	kills        int           // random SIGKILLs of a replica during the churn
	leaderKills  int           // kills aimed at the leader, spread over the churn
	minKills     int           // SIGKILLs the run must have made
	outage       time.Duration // GitHub fully down (every REST request answers 503)
	outageAt     time.Duration // when the outage starts, from the churn's start
	errorRate    float64       // share of REST requests answered 5xx/429/403 outside the outage
	pageSize     int           // runners per page of a listing
	orphanGrace  time.Duration // corral --orphan-grace
	sweep        time.Duration // corral --sweep-interval
	drainTimeout time.Duration // how long the queued jobs may take to complete after the churn
	failpoints   string        // CORRAL_FAILPOINTS for both replicas
	k8sBin       string
	pools        []poolSpec
}

// slack is added to a timing bound for what the harness itself adds: watch and informer
// latency and one reconcile on a loaded two-core machine.
const slack = 5 * time.Second

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.size, "size", "full", "Preset: full or smoke; the flags below override it.")
	fs.IntVar(&c.jobs, "jobs", 0, "Jobs queued during the churn (full: 240; smoke: 20).")
	fs.DurationVar(&c.churn, "churn", 0, "Length of the churn phase (full: 9m; smoke: 80s).")
	fs.DurationVar(&c.jobDuration, "job-duration", 3*time.Second, "How long each job runs once a runner took it.")
	fs.IntVar(&c.kills, "kills", 0, "Random SIGKILLs of a replica (full: 24; smoke: 3).")
	fs.IntVar(&c.leaderKills, "leader-kills", 0, "SIGKILLs aimed at the leader (full: 2; smoke: 1).")
	fs.DurationVar(&c.outage, "outage", 0, "GitHub's full outage (full: 2m; smoke: 20s).")
	fs.DurationVar(&c.outageAt, "outage-at", 0, "Start of the outage from the churn's start (full: 3m30s; smoke: 25s).")
	fs.Float64Var(&c.errorRate, "error-rate", 0.4, "Share of REST requests answered with 5xx, 429 or 403 during the churn, outside the outage.")
	fs.IntVar(&c.pageSize, "runners-per-page", 2, "Runners per page of a runner listing (below the pools' minIdle sum, so every listing has several pages).")
	fs.DurationVar(&c.orphanGrace, "orphan-grace", 10*time.Second, "corral --orphan-grace.")
	fs.DurationVar(&c.sweep, "sweep-interval", 5*time.Second, "corral --sweep-interval.")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 0, "How long queued jobs may take to complete after the churn (full: 8m; smoke: 3m).")
	fs.StringVar(&c.failpoints, "failpoints", "register=0.02,pod-created=0.02,deregistered=0.05,webhook-committed=0.005",
		"CORRAL_FAILPOINTS of both replicas (NAME=PROBABILITY,...; a hit exits with code 97).")
	fs.StringVar(&c.k8sBin, "k8s-bin", os.Getenv("K8S_BIN"), "Directory of etcd, kube-apiserver, ..., kubectl and kwok.")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	full := c.size != "smoke"
	harness.Preset(&c.churn, full, 9*time.Minute, 80*time.Second)
	harness.Preset(&c.outage, full, 2*time.Minute, 20*time.Second)
	harness.Preset(&c.outageAt, full, 3*time.Minute+30*time.Second, 25*time.Second)
	harness.Preset(&c.drainTimeout, full, 8*time.Minute, 3*time.Minute)
	harness.Preset(&c.jobs, full, 240, 20)
	harness.Preset(&c.kills, full, 24, 3)
	harness.Preset(&c.leaderKills, full, 2, 1)
	c.minKills = 3
	if full {
		c.minKills = 20
	}
	c.pools = runPools()
	if c.outageAt+c.outage > c.churn {
		return c, fmt.Errorf("the outage (%s at %s) must end within the churn (%s)", c.outage, c.outageAt, c.churn)
	}
	return c, nil
}

// logger prints progress to standard error and to the run's chaos.log.
type logger struct {
	mu  sync.Mutex
	out io.Writer
}

func (l *logger) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "chaos %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	harness.Main("chaos", func(ctx context.Context, args []string) error {
		cfg, err := parseFlags(args)
		if err != nil {
			return harness.UsageError(err)
		}
		return run(ctx, cfg)
	})
}

// run sets everything up, runs the phases and checks the invariants; harness.ErrFailed when
// one failed.
func run(ctx context.Context, cfg config) error {
	start := time.Now()
	work, err := newWorkDir()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(work, "logs", "chaos.log"))
	if err != nil {
		return fmt.Errorf("creating chaos.log: %w", err)
	}
	defer logFile.Close()
	log := &logger{out: io.MultiWriter(os.Stderr, logFile)}
	log.logf("run directory %s", work)
	e, err := setUp(ctx, cfg, work, log)
	defer e.tearDown()
	if err != nil {
		return err
	}
	r := &runRecord{cfg: cfg, started: start}
	if err := e.warmUp(ctx); err != nil {
		return err
	}
	if err := e.churn(ctx, r); err != nil {
		return err
	}
	if err := e.drain(ctx, r); err != nil {
		return err
	}
	rows, err := e.check(ctx, r)
	if err != nil {
		return err
	}
	e.stopReplicas()
	leaks, err := scanLogs(ctx, e, work)
	if err != nil {
		return err
	}
	rows = append(rows, leaks)
	r.finished = time.Now()
	report := printReport(os.Stdout, r, rows)
	if err := os.WriteFile(filepath.Join(work, "report.md"), []byte(report), 0o644); err != nil {
		log.logf("writing report.md: %v", err)
	}
	failed := 0
	for _, row := range rows {
		if !row.pass {
			failed++
		}
	}
	log.logf("done in %s: %d of %d invariants failed; logs in %s", time.Since(start).Round(time.Second), failed, len(rows), work)
	if failed > 0 {
		return harness.ErrFailed
	}
	return nil
}

// newWorkDir creates .cache/chaos/<time>/ with bin/ and logs/.
func newWorkDir() (string, error) {
	base := filepath.Join(harness.RepoRoot(), ".cache", "chaos")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", base, err)
	}
	work, err := os.MkdirTemp(base, time.Now().Format("20060102-150405-"))
	if err != nil {
		return "", fmt.Errorf("creating the run directory: %w", err)
	}
	for _, d := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return "", fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return work, nil
}

// labelsOf are the runs-on labels of a job for pool.
func labelsOf(pool string) []string {
	return []string{"self-hosted", "linux", "chaos-" + strings.ToLower(pool)}
}
