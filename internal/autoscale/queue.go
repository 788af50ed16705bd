package autoscale

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// routeBatch bounds the events matched against one listing of the pools.
const routeBatch = 1000

// workQueue carries accepted events to the demand store. It holds at most capacity events
// (Offer refuses more, so the handler can answer 503 and nothing is dropped silently). A
// router matches events to pools against the manager's cache and files them per pool; a
// rate-limited work queue of pool keys hands each pool to one worker at a time, which
// writes all of the pool's pending events in one store write. Events whose write failed
// stay pending and are retried with backoff.
type workQueue struct {
	capacity int64
	inflight atomic.Int64
	intake   chan Event
	pools    client.Reader
	store    *store
	metrics  *Metrics

	mu      sync.Mutex
	pending map[types.NamespacedName][]Event
	keys    workqueue.TypedRateLimitingInterface[types.NamespacedName]
}

func newWorkQueue(capacity int, pools client.Reader, st *store, m *Metrics) *workQueue {
	return &workQueue{
		capacity: int64(capacity),
		intake:   make(chan Event, capacity),
		pools:    pools,
		store:    st,
		metrics:  m,
		pending:  map[types.NamespacedName][]Event{},
		keys: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{}),
	}
}

// Offer accepts ev for the demand store, or reports false when the queue is full.
func (q *workQueue) Offer(ev Event) bool {
	if q.inflight.Add(1) > q.capacity {
		q.done(1)
		return false
	}
	select {
	case q.intake <- ev:
		q.metrics.backlog.Set(float64(q.inflight.Load()))
		return true
	default:
		q.done(1)
		return false
	}
}

// done counts n events as finished.
func (q *workQueue) done(n int) {
	q.metrics.backlog.Set(float64(q.inflight.Add(-int64(n))))
}

// Backlog is the number of events accepted and not yet finished.
func (q *workQueue) Backlog() int { return int(q.inflight.Load()) }

// run routes and applies events until ctx ends, then lets the backlog drain for at most
// drain before it stops the workers.
func (q *workQueue) run(ctx context.Context, workers int, drain time.Duration) {
	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { q.route(workCtx) })
	for range workers {
		wg.Go(func() { q.work(workCtx) })
	}
	<-ctx.Done()
	deadline := time.Now().Add(drain)
	for q.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := q.inflight.Load(); n > 0 {
		log.FromContext(ctx).Info("stopping with workflow_job events not applied; they will come back through the delivery log or expire", "events", n)
	}
	cancel()
	q.keys.ShutDown()
	wg.Wait()
}

// route matches intake events to pools and files them for the workers.
func (q *workQueue) route(ctx context.Context) {
	logger := log.FromContext(ctx)
	for {
		var batch []Event
		select {
		case <-ctx.Done():
			return
		case ev := <-q.intake:
			batch = append(batch, ev)
		}
	more:
		for len(batch) < routeBatch {
			select {
			case ev := <-q.intake:
				batch = append(batch, ev)
			default:
				break more
			}
		}
		cs, ok := q.candidates(ctx)
		if !ok {
			return
		}
		for _, ev := range batch {
			keys := cs.route(ev)
			if len(keys) == 0 {
				logger.V(1).Info("no pool matches the workflow job", "job", ev.JobID, "labels", ev.Labels, "repository", ev.Repository)
				q.metrics.jobEvents.WithLabelValues(resultUnmatched).Inc()
				q.done(1)
				continue
			}
			q.inflight.Add(int64(len(keys) - 1))
			for _, k := range keys {
				q.mu.Lock()
				q.pending[k] = append(q.pending[k], ev)
				q.mu.Unlock()
				q.keys.Add(k)
			}
		}
	}
}

// candidates lists the pools, retrying every second while the cache cannot answer.
func (q *workQueue) candidates(ctx context.Context) (candidates, bool) {
	for {
		var pools corralv1.RunnerPoolList
		err := q.pools.List(ctx, &pools)
		if err == nil {
			return newCandidates(pools.Items), true
		}
		log.FromContext(ctx).Error(err, "listing RunnerPools to match workflow jobs; retrying")
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(time.Second):
		}
	}
}

// work writes the pending events of one pool at a time.
func (q *workQueue) work(ctx context.Context) {
	for {
		key, shutdown := q.keys.Get()
		if shutdown {
			return
		}
		q.mu.Lock()
		evs := q.pending[key]
		delete(q.pending, key)
		q.mu.Unlock()
		if len(evs) == 0 {
			q.keys.Forget(key)
			q.keys.Done(key)
			continue
		}
		result, err := q.store.apply(ctx, key, evs)
		if err != nil {
			log.FromContext(ctx).Error(err, "recording workflow jobs; will retry", "pool", key, "events", len(evs))
			q.mu.Lock()
			q.pending[key] = append(evs, q.pending[key]...)
			q.mu.Unlock()
			q.keys.AddRateLimited(key)
			q.keys.Done(key)
			continue
		}
		q.metrics.jobEvents.WithLabelValues(result).Add(float64(len(evs)))
		q.keys.Forget(key)
		q.done(len(evs))
		q.keys.Done(key)
	}
}
