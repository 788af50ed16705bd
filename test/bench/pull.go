//go:build bench

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/internal/autoscale"
	"github.com/corral-run/corral/test/harness"
)

// nsPull holds the pool of the pull-mode phase, fed by the third fake GitHub, whose App's
// webhook URL leads nowhere: corral learns its jobs from the App's delivery log only.
const nsPull = "bench-pull"

// pullResult is the pull-mode phase: a burst of jobs no webhook announces.
type pullResult struct {
	n              int
	spacing        time.Duration // between two jobs queued
	jobDuration    time.Duration
	logDelay       time.Duration
	created        []time.Duration // from the job queued (its delivery attempted) to its pod created
	requests       int             // every request the fake answered over the burst, until the pool drained
	listsPerHour   float64         // idle: the reads with nothing to read, per hour
	jitCalls       int
	deliveryReads  int // GET /app/hook/deliveries/{id}
	deliveryLists  int // GET /app/hook/deliveries
	idleWindow     time.Duration
	idleRequests   int
	failedAttempts int
}

// startPullFake starts the fake GitHub of the pull-mode phase (GitHub's limits, no webhook
// URL, the delivery log delay of the run), applies its App's log Secret for corral and
// gives corral the flags that pull it.
func (e *environment) startPullFake(ctx context.Context, bin string) error {
	var err error
	e.fakePull, err = harness.StartFakeGitHub(harness.FakeOptions{Name: "fake-github-pull", Bin: bin,
		Dir: e.work + "/fake-github-pull", LogDir: e.work + "/logs",
		Args: []string{"--kubeconfig", e.cluster.Kubeconfig, "--namespace", nsPull, "--job-duration", e.cfg.pullJobDuration.String(),
			"--dispatch-interval", "100ms", "--delivery-log-delay", e.cfg.pullLogDelay.String(),
			"--secret-name", "github-app-pull", "--ca-configmap-name", "github-ca-pull", "--recovery-secret-name", "github-app-pull-log"}})
	if err != nil {
		return err
	}
	e.ghPull = e.fakePull.Client
	e.corral.Options.Args = append(e.corral.Options.Args, "--webhook-pull-credentials", operatorNamespace+"/"+e.fakePull.Info.RecoverySecretName,
		"--webhook-pull-github-url", e.fakePull.Info.URL)
	_, err = e.cluster.Kubectl(ctx, "apply", "-n", operatorNamespace, "-f", e.fakePull.Info.RecoveryCredentialsManifest)
	return err
}

// pull measures pull mode: the requests of an idle window (the reads finding nothing), then
// n jobs queued one every spacing into a fresh pool, from each job queued to its pod
// created (the i-th pod paired with the i-th job: runners are interchangeable), and every
// request the fake answered until the pool drained.
func (e *environment) pull(ctx context.Context, pt *podTimes, n int, spacing, idle time.Duration) (pullResult, error) {
	r := pullResult{n: n, spacing: spacing, jobDuration: e.cfg.pullJobDuration, logDelay: e.cfg.pullLogDelay, idleWindow: idle}
	name := fmt.Sprintf("pull-%d", n)
	if err := e.createPool(ctx, nsPull, name, e.fakePull, 0, int32(n)); err != nil {
		return r, err
	}
	s0, err := e.ghPull.Stats(ctx)
	if err != nil {
		return r, err
	}
	if err := sleep(ctx, idle); err != nil {
		return r, err
	}
	s1, err := e.ghPull.Stats(ctx)
	if err != nil {
		return r, err
	}
	r.idleRequests = s1.Requests - s0.Requests
	r.listsPerHour = float64(r.idleRequests) / idle.Hours()
	calls0, err := e.ghPull.Calls(ctx)
	if err != nil {
		return r, err
	}
	// One job every spacing: each samples another moment of the reads' cycle (a burst would
	// all wait for the same read).
	t0 := time.Now()
	starts := make([]time.Time, n)
	for i := range starts {
		if err := sleep(ctx, time.Until(t0.Add(time.Duration(i)*spacing))); err != nil {
			return r, err
		}
		starts[i] = time.Now()
		resp, err := e.ghPull.Queue(ctx, app.QueueRequest{Count: 1, Labels: []string{"self-hosted", "linux", name}})
		if err != nil {
			return r, fmt.Errorf("queueing job %d: %w", i+1, err)
		}
		r.failedAttempts += resp.Failed
	}
	timeout := 3*time.Minute + e.cfg.pullJobDuration
	created, _, err := waitPods(ctx, pt, name, n, timeout)
	r.created = latencies(starts, created)
	if err != nil {
		return r, err
	}
	if err := e.waitDrained(ctx, e.ghPull, pt, name, n, timeout); err != nil {
		return r, err
	}
	// The last completions are logged as their runners exit: give the reads one more cycle.
	if err := sleep(ctx, autoscale.DefaultPullInterval*11/10+e.cfg.pullLogDelay+time.Second); err != nil {
		return r, err
	}
	s2, err := e.ghPull.Stats(ctx)
	if err != nil {
		return r, err
	}
	calls1, err := e.ghPull.Calls(ctx)
	if err != nil {
		return r, err
	}
	r.requests = s2.Requests - s1.Requests
	r.jitCalls = calls1[endpointOrgJIT] - calls0[endpointOrgJIT]
	r.deliveryReads = calls1[endpointDelivery] - calls0[endpointDelivery]
	r.deliveryLists = calls1[endpointDeliveries] - calls0[endpointDeliveries]
	return r, nil
}

func (r *results) printPull(w io.Writer) {
	p := r.pull
	if p.n == 0 {
		return
	}
	fmt.Fprintf(w, "\n### 10. Pull mode (no inbound connection): %d jobs one every %s, jobs of %s, delivery log delay %s, corral's --webhook-pull-interval %s\n\n",
		p.n, p.spacing, p.jobDuration, p.logDelay, autoscale.DefaultPullInterval)
	fmt.Fprintf(w, "The App's webhook URL leads nowhere (every attempt failed to connect); corral reads the App's delivery log. "+
		"Job queued to runner pod created: p50 %s, p95 %s, p99 %s, max %s.\n\n",
		ms(quantile(p.created, .5)), ms(quantile(p.created, .95)), ms(quantile(p.created, .99)), ms(quantile(p.created, 1)))
	fmt.Fprintln(w, "| GitHub requests | in all | per job |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| every request, from the first job queued until the pool drained | %d | %s |\n", p.requests, per(float64(p.requests), p.n))
	fmt.Fprintf(w, "| delivery payloads fetched | %d | %s |\n", p.deliveryReads, per(float64(p.deliveryReads), p.n))
	fmt.Fprintf(w, "| delivery log pages listed | %d | %s |\n", p.deliveryLists, per(float64(p.deliveryLists), p.n))
	fmt.Fprintf(w, "| JIT registrations | %d | %s |\n", p.jitCalls, per(float64(p.jitCalls), p.n))
	fmt.Fprintf(w, "| idle, nothing logged (%s) | %d | %.0f per hour |\n", p.idleWindow, p.idleRequests, p.listsPerHour)
}
