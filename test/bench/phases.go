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

// createPool creates a pool in ns registering with the fake f (with its first App's
// credentials unless a modifier says otherwise).
func (e *environment) createPool(ctx context.Context, ns, name string, f *harness.FakeGitHub, minIdle, maxRunners int32, mods ...gen.PoolModifier) error {
	pool := f.Pool(ns, name, append([]gen.PoolModifier{gen.WithLabels(name), gen.WithMinIdle(minIdle), gen.WithMaxRunners(maxRunners)}, mods...)...)
	if err := e.k8s.Create(ctx, pool); err != nil {
		return fmt.Errorf("creating pool %s/%s: %w", ns, name, err)
	}
	return nil
}

// idleResult is the steady state with nothing to do.
type idleResult struct {
	cost
	requests float64 // corral's Kubernetes requests, reads included (client-go's count)
}

// idle measures corral over window with no job and no runner.
func (e *environment) idle(ctx context.Context, window time.Duration) (idleResult, error) {
	var r idleResult
	before, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	if err := sleep(ctx, window); err != nil {
		return r, err
	}
	after, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	r.cost = e.cost(before, after, 0)
	r.requests = after.corral.Minus(before.corral).Sum("rest_client_requests_total")
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
	runners, others         int
	othersTook, runnersTook time.Duration
	rss, heap, goroutines   float64
	cpuRunnersUp, cpuSteady float64
	// reconcilesUp is how many reconciles creating the runners took (all controllers).
	reconcilesUp               float64
	steadyWindow               time.Duration
	steadyRequests, steadyCall float64
	steadyWrites               int
}

// scale creates others unrelated pods, then a pool with minIdle runners idle runners on the
// relaxed fake, and measures corral once they all run; its CPU is profiled while the
// runners are created and over the steady window, its heap at the end.
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
	stopCPU := e.prof.cpu(ctx, "scale-create")
	if err := e.createPool(ctx, nsScale, "scale", e.fakeRelaxed, int32(runners), int32(runners)); err != nil {
		stopCPU()
		return r, err
	}
	_, _, err = waitPods(ctx, pt, "scale", runners, 15*time.Minute)
	stopCPU()
	if err != nil {
		return r, err
	}
	r.runnersTook = time.Since(start)
	logf("%d runner pods running in %s", runners, r.runnersTook.Round(time.Second))
	if err := sleep(ctx, 10*time.Second); err != nil { // the last status updates
		return r, err
	}
	mid, err := harness.Scrape(ctx, e.metricsURL, "")
	if err != nil {
		return r, err
	}
	midAt := time.Now()
	up := mid.Minus(before)
	r.cpuRunnersUp, r.reconcilesUp = up.Sum("process_cpu_seconds_total"), up.Sum("controller_runtime_reconcile_total")
	ghBefore, err := e.ghRelaxed.Calls(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the relaxed fake's calls: %w", err)
	}
	stopCPU = e.prof.cpu(ctx, "scale-steady")
	err = sleep(ctx, window)
	stopCPU()
	if err != nil {
		return r, err
	}
	after, err := harness.Scrape(ctx, e.metricsURL, "")
	if err != nil {
		return r, err
	}
	e.prof.heap(ctx, "scale")
	ghAfter, err := e.ghRelaxed.Calls(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the relaxed fake's calls: %w", err)
	}
	d := after.Minus(mid)
	r.cpuSteady, r.steadyRequests = d.Sum("process_cpu_seconds_total"), d.Sum("rest_client_requests_total")
	r.steadyCall = float64(ghAfter["total"] - ghBefore["total"])
	r.steadyWrites = countWrites(e.audit.between(midAt, time.Now())).total()
	r.rss, r.heap, r.goroutines = after.Sum("process_resident_memory_bytes"), after.Sum("go_memstats_heap_inuse_bytes"), after.Sum("go_goroutines")
	return r, nil
}
