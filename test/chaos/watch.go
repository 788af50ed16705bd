//go:build chaos

package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// watchAll lists the objects of list's kind in the run's namespace, hands each to handle as
// an ADDED event, then follows every change from the list's resourceVersion with a
// RetryWatcher (which resumes after the API server closes a watch) until ctx is done. A
// watch that ends early is reported by broken.
func watchAll(ctx context.Context, cl client.WithWatch, list client.ObjectList, handle func(watch.Event), opts ...client.ListOption) (broken func() error, err error) {
	opts = append(opts, client.InNamespace(namespace))
	if err := cl.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing %T: %w", list, err)
	}
	items, err := metaItems(list)
	if err != nil {
		return nil, err
	}
	for _, obj := range items {
		handle(watch.Event{Type: watch.Added, Object: obj})
	}
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return cl.Watch(ctx, list.DeepCopyObject().(client.ObjectList), append(opts, &client.ListOptions{Raw: &o})...)
	}}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.GetResourceVersion(), lw)
	if err != nil {
		return nil, fmt.Errorf("watching %T: %w", list, err)
	}
	var mu sync.Mutex
	var failure error
	go func() {
		defer rw.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-rw.ResultChan():
				if !ok {
					if ctx.Err() == nil {
						mu.Lock()
						failure = fmt.Errorf("the watch of %T ended before the run did", list)
						mu.Unlock()
					}
					return
				}
				if ev.Type == watch.Error {
					mu.Lock()
					failure = fmt.Errorf("the watch of %T failed: %v", list, ev.Object)
					mu.Unlock()
					continue
				}
				handle(ev)
			}
		}
	}()
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		return failure
	}, nil
}

// metaItems returns the objects of a typed list.
func metaItems(list client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := list.(type) {
	case *corev1.PodList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corralv1.RunnerPoolList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	default:
		return nil, fmt.Errorf("no items of %T", list)
	}
	return out, nil
}

// podWatch follows every runner pod of the namespace and keeps, per pool, the most pods
// that were live (not terminated, no deletionTimestamp) at once.
type podWatch struct {
	broken func() error

	mu     sync.Mutex
	live   map[string]map[string]bool // pool -> live pod names
	most   map[string]peak
	events map[string][]time.Time // pool -> when any of its pods changed
}

// peak is the most live pods a pool had, when, and which.
type peak struct {
	n    int
	at   time.Time
	pods []string
}

func watchPods(ctx context.Context, cl client.WithWatch) (*podWatch, error) {
	w := &podWatch{live: map[string]map[string]bool{}, most: map[string]peak{}, events: map[string][]time.Time{}}
	var err error
	w.broken, err = watchAll(ctx, cl, &corev1.PodList{}, w.observe, client.MatchingLabels{corralv1.LabelComponent: corralv1.ComponentRunner})
	return w, err
}

func (w *podWatch) observe(ev watch.Event) {
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return
	}
	pool := pod.Labels[corralv1.LabelPool]
	live := ev.Type != watch.Deleted && pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events[pool] = append(w.events[pool], time.Now())
	if w.live[pool] == nil {
		w.live[pool] = map[string]bool{}
	}
	if !live {
		delete(w.live[pool], pod.Name)
		return
	}
	w.live[pool][pod.Name] = true
	if n := len(w.live[pool]); n > w.most[pool].n {
		names := make([]string, 0, n)
		for name := range w.live[pool] {
			names = append(names, name)
		}
		sort.Strings(names)
		w.most[pool] = peak{n: n, at: time.Now(), pods: names}
	}
}

// changes counts the events of pool's pods in [from, to).
func (w *podWatch) changes(pool string, from, to time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, t := range w.events[pool] {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

// peak is the most live pods pool had at once.
func (w *podWatch) peak(pool string) peak {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.most[pool]
}

// Who changed a RunnerPool, as told by what changed.
const (
	writerController = "controller" // status apart from status.demand: the reconciler
	writerWebhook    = "webhook"    // status.demand: the webhook receiver (field manager corral-webhook)
	writerOther      = "other"      // spec or metadata (finalizers, the run itself)
)

// poolWrite is one change of a pool.
type poolWrite struct {
	at     time.Time
	writer string
}

// poolWatch follows every RunnerPool of the namespace and records each write (each new
// resourceVersion), attributed by what it changed.
type poolWatch struct {
	broken func() error

	mu     sync.Mutex
	last   map[string]*corralv1.RunnerPool
	writes map[string][]poolWrite
}

func watchPools(ctx context.Context, cl client.WithWatch) (*poolWatch, error) {
	w := &poolWatch{last: map[string]*corralv1.RunnerPool{}, writes: map[string][]poolWrite{}}
	var err error
	w.broken, err = watchAll(ctx, cl, &corralv1.RunnerPoolList{}, w.observe)
	return w, err
}

func (w *poolWatch) observe(ev watch.Event) {
	pool, ok := ev.Object.(*corralv1.RunnerPool)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.last[pool.Name]
	w.last[pool.Name] = pool
	if prev == nil || ev.Type != watch.Modified || prev.ResourceVersion == pool.ResourceVersion {
		return
	}
	w.writes[pool.Name] = append(w.writes[pool.Name], poolWrite{at: time.Now(), writer: writerOf(prev, pool)})
}

// writerOf tells who made the change from prev to cur.
func writerOf(prev, cur *corralv1.RunnerPool) string {
	a, b := prev.Status.DeepCopy(), cur.Status.DeepCopy()
	demandChanged := !equality.Semantic.DeepEqual(a.Demand, b.Demand)
	a.Demand, b.Demand = nil, nil
	switch {
	case !equality.Semantic.DeepEqual(a, b):
		return writerController
	case demandChanged:
		return writerWebhook
	}
	return writerOther
}

// count is how many writes of each writer pool had in [from, to).
func (w *poolWatch) count(pool string, from, to time.Time) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for _, wr := range w.writes[pool] {
		if !wr.at.Before(from) && wr.at.Before(to) {
			out[wr.writer]++
		}
	}
	return out
}
