//go:build bench

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

// Namespaces of the phases: the fake GitHub with GitHub's limits plays the runners of
// nsLimits, the relaxed one those of nsScale; nsOther holds the unrelated pods.
const (
	nsLimits = "bench"
	nsScale  = "bench-scale"
	nsOther  = "bench-other"
)

// createPool creates a pool in ns registering with the fake f.
func (e *environment) createPool(ctx context.Context, ns, name string, f *harness.FakeGitHub, minIdle, maxRunners int32) error {
	pool := f.Pool(ns, name, gen.WithLabels(name), gen.WithMinIdle(minIdle), gen.WithMaxRunners(maxRunners))
	if err := e.k8s.Create(ctx, pool); err != nil {
		return fmt.Errorf("creating pool %s/%s: %w", ns, name, err)
	}
	return nil
}

// snapshot is the state of the counters at one instant.
type snapshot struct {
	at     time.Time
	calls  calls
	corral harness.Metrics
}

func (e *environment) snapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{at: time.Now()}
	c, err := e.gh.Calls(ctx)
	if err != nil {
		return s, fmt.Errorf("reading the fake's call counts: %w", err)
	}
	s.calls = calls(c)
	if s.corral, err = harness.Scrape(ctx, e.metricsURL, ""); err != nil {
		return s, err
	}
	return s, nil
}

// burstResult is one burst's row.
type burstResult struct {
	n                           int
	sendSpan                    time.Duration
	created, running            []time.Duration
	total, totalRunning         time.Duration
	bound                       time.Duration // what GitHub's limits imply for one credential
	delivered                   int
	calls                       calls
	writes                      map[string]float64 // corral's API server requests by method
	rejected                    float64            // GitHub answers 403/429 to corral
	completedJobs, created0, n0 int
}

// burst sends n queued deliveries at once into a fresh pool with maxRunners n, waits until n
// runner pods exist and run, then until the jobs completed and the pool drained.
func (e *environment) burst(ctx context.Context, pt *podTimes, n int) (burstResult, error) {
	r := burstResult{n: n, bound: limitBound(n, 1)}
	name := fmt.Sprintf("burst-%d", n)
	if err := e.createPool(ctx, nsLimits, name, e.fake, 0, int32(n)); err != nil {
		return r, err
	}
	time.Sleep(2 * time.Second) // the pool's first reconcile (no runner: minIdle 0)
	before, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	resp, err := e.gh.Queue(ctx, app.QueueRequest{Count: n, Labels: []string{"self-hosted", "linux", name}})
	if err != nil {
		return r, fmt.Errorf("queueing %d jobs: %w", n, err)
	}
	r.sendSpan, r.delivered = time.Since(t0), resp.Delivered
	starts := make([]time.Time, n)
	for i := range starts {
		starts[i] = t0
	}
	timeout := r.bound*2 + 3*time.Minute
	created, running, err := waitPods(ctx, pt, name, n, timeout)
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
	if err := e.waitDrained(ctx, pt, name, n, timeout); err != nil {
		return r, err
	}
	after, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	r.calls = after.calls.minus(before.calls)
	d := after.corral.Minus(before.corral)
	r.writes = d.By("rest_client_requests_total", "method", func(m string) bool { return m != "GET" })
	r.rejected = d.Sum("corral_github_requests_total", `code="403"`) + d.Sum("corral_github_requests_total", `code="429"`)
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
		select {
		case <-ctx.Done():
			return created, running, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitDrained waits until the pool's jobs completed and none of its pods is left.
func (e *environment) waitDrained(ctx context.Context, pt *podTimes, pool string, jobs int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, _, live := pt.pool(pool)
		done := 0
		if all, err := e.gh.Jobs(ctx); err == nil {
			for _, j := range all {
				if j.State == app.JobCompleted && len(j.Labels) == 3 && j.Labels[2] == pool {
					done++
				}
			}
		}
		if live == 0 && done >= jobs {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pool %s not drained after %s: %d pods left, %d of %d jobs completed", pool, timeout, live, done, jobs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// limitBound is the time GitHub's secondary limits imply for n JIT registrations from
// credentials credentials, each allowed 80 content-creating requests per sliding minute (and
// 900 points = 180 JIT POSTs per endpoint, never the tighter one): the first 80 at once,
// each further 80 one minute later.
func limitBound(n, credentials int) time.Duration {
	per := 80 * credentials
	if n <= per {
		return 0
	}
	return time.Duration((n-1)/per) * time.Minute
}

// idleResult is the steady state with nothing to do.
type idleResult struct {
	window   time.Duration
	calls    calls
	cpu      float64
	writes   float64
	requests float64
}

// idle measures corral over window with no job and no runner.
func (e *environment) idle(ctx context.Context, window time.Duration) (idleResult, error) {
	r := idleResult{window: window}
	before, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(window):
	}
	after, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	r.calls = after.calls.minus(before.calls)
	d := after.corral.Minus(before.corral)
	r.cpu = d.Sum("process_cpu_seconds_total")
	r.requests = d.Sum("rest_client_requests_total")
	r.writes = r.requests - d.Sum("rest_client_requests_total", `method="GET"`)
	return r, nil
}

// createOtherPods creates n unrelated pods bound straight to the fake nodes (kwok runs them;
// no scheduling), with parallel workers.
func (e *environment) createOtherPods(ctx context.Context, n int) error {
	if _, err := e.kubectl(ctx, "create", "namespace", nsOther); err != nil {
		return err
	}
	if _, err := e.kubectl(ctx, "wait", "--for=jsonpath={.metadata.name}=default", "-n", nsOther, "serviceaccount/default", "--timeout=60s"); err != nil {
		return err
	}
	nodes := []string{"bench-0", "bench-1", "bench-2", "bench-3"}
	work := make(chan int)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%05d", i), Labels: map[string]string{"app": "unrelated"}},
					Spec: corev1.PodSpec{
						NodeName: nodes[i%len(nodes)], AutomountServiceAccountToken: ptr.To(false),
						Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
					},
				}
				if _, err := e.cs.CoreV1().Pods(nsOther).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					select {
					case errs <- fmt.Errorf("creating pod %s: %w", pod.Name, err):
					default:
					}
					return
				}
			}
		}()
	}
	for i := range n {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			wg.Wait()
			return err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// scaleResult is corral at scale: runners pods among unrelated pods.
type scaleResult struct {
	runners, others            int
	othersTook, runnersTook    time.Duration
	rss, heap, goroutines      float64
	cpuRunnersUp, cpuSteady    float64
	steadyWindow               time.Duration
	steadyRequests, steadyCall float64
}

// scale creates others unrelated pods, then a pool with minIdle runners idle runners on the
// relaxed fake, and measures corral once they all run.
func (e *environment) scale(ctx context.Context, pt *podTimes, runners, others int, window time.Duration) (scaleResult, error) {
	r := scaleResult{runners: runners, others: others, steadyWindow: window}
	start := time.Now()
	if err := e.createOtherPods(ctx, others); err != nil {
		return r, err
	}
	r.othersTook = time.Since(start)
	logf("%d unrelated pods created in %s", others, r.othersTook.Round(time.Second))
	before, err := harness.Scrape(ctx, e.metricsURL, "")
	if err != nil {
		return r, err
	}
	start = time.Now()
	if err := e.createPool(ctx, nsScale, "scale", e.fakeRelaxed, int32(runners), int32(runners)); err != nil {
		return r, err
	}
	if _, _, err := waitPods(ctx, pt, "scale", runners, 15*time.Minute); err != nil {
		return r, err
	}
	r.runnersTook = time.Since(start)
	logf("%d runner pods running in %s", runners, r.runnersTook.Round(time.Second))
	time.Sleep(10 * time.Second) // the last status updates
	mid, err := harness.Scrape(ctx, e.metricsURL, "")
	if err != nil {
		return r, err
	}
	r.cpuRunnersUp = mid.Minus(before).Sum("process_cpu_seconds_total")
	ghBefore, err := e.ghRelaxed.Calls(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the relaxed fake's calls: %w", err)
	}
	time.Sleep(window)
	after, err := harness.Scrape(ctx, e.metricsURL, "")
	if err != nil {
		return r, err
	}
	ghAfter, err := e.ghRelaxed.Calls(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the relaxed fake's calls: %w", err)
	}
	d := after.Minus(mid)
	r.cpuSteady, r.steadyRequests = d.Sum("process_cpu_seconds_total"), d.Sum("rest_client_requests_total")
	r.steadyCall = float64(ghAfter["total"] - ghBefore["total"])
	r.rss, r.heap, r.goroutines = after.Sum("process_resident_memory_bytes"), after.Sum("go_memstats_heap_inuse_bytes"), after.Sum("go_goroutines")
	return r, nil
}
