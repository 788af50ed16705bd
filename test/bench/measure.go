//go:build bench

package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// podTimes records, by the harness's clock, when each runner pod was first seen and first
// seen Running.
type podTimes struct {
	mu      sync.Mutex
	created map[string]podSeen // pod name -> times
}

type podSeen struct {
	pool             string
	created, running time.Time
	gone             bool
}

// watchRunnerPods watches every runner pod until ctx is done.
func watchRunnerPods(ctx context.Context, e *environment) (*podTimes, error) {
	pt := &podTimes{created: map[string]podSeen{}}
	f := informers.NewSharedInformerFactoryWithOptions(e.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = corralv1.LabelComponent + "=" + corralv1.ComponentRunner
	}))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pt.observe(obj, false) },
		UpdateFunc: func(_, obj any) { pt.observe(obj, false) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			pt.observe(obj, true)
		},
	}); err != nil {
		return nil, fmt.Errorf("watching runner pods: %w", err)
	}
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("runner pod cache did not sync")
	}
	return pt, nil
}

func (pt *podTimes) observe(obj any, deleted bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	now := time.Now()
	pt.mu.Lock()
	defer pt.mu.Unlock()
	s, seen := pt.created[pod.Name]
	if !seen {
		s = podSeen{pool: pod.Labels[corralv1.LabelPool], created: now}
	}
	if s.running.IsZero() && pod.Status.Phase == corev1.PodRunning {
		s.running = now
	}
	if deleted {
		s.gone = true
	}
	pt.created[pod.Name] = s
}

// pool returns the sorted creation and running times of the pool's pods, and how many of its
// pods still exist.
func (pt *podTimes) pool(name string) (created, running []time.Time, live int) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, s := range pt.created {
		if s.pool != name {
			continue
		}
		created = append(created, s.created)
		if !s.running.IsZero() {
			running = append(running, s.running)
		}
		if !s.gone {
			live++
		}
	}
	sortTimes(created)
	sortTimes(running)
	return created, running, live
}

// pods returns the pool's pods seen so far, by name.
func (pt *podTimes) pods(pool string) map[string]podSeen {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	out := map[string]podSeen{}
	for name, s := range pt.created {
		if s.pool == pool {
			out[name] = s
		}
	}
	return out
}

func sortTimes(ts []time.Time) { sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) }) }

// latencies pairs the i-th start with the i-th event (runners are interchangeable: GitHub
// gives a job to any idle matching runner) and returns the durations, sorted.
func latencies(starts, events []time.Time) []time.Duration {
	n := min(len(starts), len(events))
	out := make([]time.Duration, 0, n)
	for i := range n {
		out = append(out, max(0, events[i].Sub(starts[i])))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// quantile returns the q-quantile of sorted durations (nearest rank); 0 when empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// calls is a snapshot of the fake GitHub's call counts by endpoint.
type calls map[string]int

func (c calls) minus(before calls) calls {
	out := calls{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
