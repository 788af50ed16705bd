package autoscale

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

var (
	// errBacklogFull: as many events as allowed wait for their write; the delivery is
	// refused (503) and comes back through GitHub or the delivery recovery.
	errBacklogFull = errors.New("too many workflow_job events waiting to be recorded")
	// errStopped: the committer is not running (not yet, or shutting down).
	errStopped = errors.New("the demand store is not running")
	// errRejected: the API server refused the demand as invalid.
	errRejected = errors.New("the API server refused the pool's demand")
)

// demandWriter writes events into one pool's demand (the store).
type demandWriter interface {
	apply(ctx context.Context, key types.NamespacedName, events []Event, prev *lastWrite) (string, *lastWrite, error)
}

// committer records events in pools' demand by group commit. Each pool has a lane: at most
// one write of the pool is in flight, the events submitted meanwhile wait and all go into
// the next write, which starts at least interval after the previous one started. Whoever
// submits an event waits for the write that carries it, so nothing is acknowledged before
// it is persisted. At most capacity events wait or are being written, and at most
// cap(slots) pools are written at once.
type committer struct {
	writer   demandWriter
	interval time.Duration // between the starts of two writes of one pool; <= 0: none
	// linger is how long completions may wait for a write that other events call for
	// before they get one of their own; <= 0: none.
	linger   time.Duration
	timeout  time.Duration // bounds one write, conflict retries included
	capacity int64
	slots    chan struct{}
	metrics  *Metrics
	now      func() time.Time
	backlog  atomic.Int64

	mu      sync.Mutex
	life    context.Context // set by run; writes stop when it ends
	writers sync.WaitGroup
	lanes   map[types.NamespacedName]*lane
}

// lane is one pool's events waiting for a write. Its writer goroutine owns last.
type lane struct {
	pending []*commit
	last    *lastWrite
	urgent  chan struct{} // signalled when an event that may not linger joins pending
}

// commit is one event waiting for the write that carries it.
type commit struct {
	ev        Event
	submitted time.Time
	done      chan struct{} // closed once result and err are set
	result    string
	err       error
}

func newCommitter(w demandWriter, interval, timeout time.Duration, capacity, parallel int, m *Metrics) *committer {
	return &committer{
		writer: w, interval: interval, timeout: timeout, capacity: int64(capacity),
		slots: make(chan struct{}, max(1, parallel)), metrics: m, now: time.Now,
		lanes: map[types.NamespacedName]*lane{},
	}
}

// run lets writes happen until ctx ends, then waits for the writes in flight; the events
// still waiting fail with errStopped.
func (c *committer) run(ctx context.Context) {
	c.begin(ctx)
	c.finish()
}

// begin lets writes happen until ctx ends: submits succeed from its return on.
func (c *committer) begin(ctx context.Context) {
	c.mu.Lock()
	c.life = ctx
	c.mu.Unlock()
}

// finish waits for the end of the context begin was given, then for the writes in flight.
func (c *committer) finish() {
	c.mu.Lock()
	ctx := c.life
	c.mu.Unlock()
	<-ctx.Done()
	// A submit that saw ctx alive has started its lane's writer by the time the lock is
	// free; later ones see it ended.
	c.mu.Lock()
	c.mu.Unlock()
	c.writers.Wait()
}

// Backlog is the number of events waiting for or in a write.
func (c *committer) Backlog() int { return int(c.backlog.Load()) }

// submit queues ev for the next write of pool key; wait on the commit for its outcome.
func (c *committer) submit(key types.NamespacedName, ev Event) (*commit, error) {
	if c.backlog.Add(1) > c.capacity {
		c.finished(1)
		return nil, errBacklogFull
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life == nil || c.life.Err() != nil {
		c.finished(1)
		return nil, errStopped
	}
	cm := &commit{ev: ev, submitted: c.now(), done: make(chan struct{})}
	l := c.lanes[key]
	if l == nil {
		l = &lane{urgent: make(chan struct{}, 1)}
		c.lanes[key] = l
		c.writers.Add(1)
		go c.drain(c.life, key, l)
	}
	l.pending = append(l.pending, cm)
	if !lingers(ev) {
		select {
		case l.urgent <- struct{}{}:
		default:
		}
	}
	c.metrics.backlog.Set(float64(c.backlog.Load()))
	return cm, nil
}

// wait returns the outcome of the write that carried the event, or ctx's error if that
// comes first (the event may still be written).
func (cm *commit) wait(ctx context.Context) (string, error) {
	select {
	case <-cm.done:
		return cm.result, cm.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// finished counts n events as done with.
func (c *committer) finished(n int) {
	c.metrics.backlog.Set(float64(c.backlog.Add(-int64(n))))
}

// drain writes the lane's pending events, one batch at a time, until none are left; then
// it removes the lane. A batch of completions only waits up to linger after the oldest
// was submitted, for an event that needs a write soon to carry them.
func (c *committer) drain(ctx context.Context, key types.NamespacedName, l *lane) {
	defer c.writers.Done()
	for {
		c.mu.Lock()
		if wait := c.lingerFor(l.pending); wait > 0 {
			c.mu.Unlock()
			select {
			case <-time.After(wait):
			case <-l.urgent:
			case <-ctx.Done():
			}
			continue
		}
		batch := l.pending
		l.pending = nil
		if len(batch) == 0 {
			delete(c.lanes, key)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		started := c.now()
		c.write(ctx, key, l, batch)
		// Pace the pool's writes; the events arriving meanwhile join the next batch.
		if pause := c.interval - c.now().Sub(started); pause > 0 {
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
		}
	}
}

// lingers reports whether ev may wait for a write other events call for: the completion
// of a job that ran changes no runner count (its runner exits by itself), so it need not
// be written at once. A job cancelled while queued (no runner) leaves the demand at once,
// or a runner would be created for it.
func lingers(ev Event) bool { return ev.State == corralv1.JobCompleted && ev.RunnerName != "" }

// lingerFor is how much longer pending may wait before it is written: > 0 only while
// every event in it lingers and the oldest was submitted less than linger ago. Call with
// c.mu held.
func (c *committer) lingerFor(pending []*commit) time.Duration {
	if c.linger <= 0 || len(pending) == 0 || c.life.Err() != nil {
		return 0
	}
	for _, cm := range pending {
		if !lingers(cm.ev) {
			return 0
		}
	}
	return c.linger - c.now().Sub(pending[0].submitted)
}

// write records one batch and tells its submitters.
func (c *committer) write(ctx context.Context, key types.NamespacedName, l *lane, batch []*commit) {
	events := make([]Event, len(batch))
	for i, cm := range batch {
		events[i] = cm.ev
	}
	result, err := c.apply(ctx, key, l, events)
	if err != nil && ctx.Err() == nil {
		log.FromContext(ctx).Error(err, "recording workflow jobs; their deliveries are answered 503", "pool", key, "events", len(events))
	}
	label := result
	switch {
	case err != nil:
		label = resultFailed
	case result == resultRejected:
		err = errRejected
	}
	c.metrics.jobEvents.WithLabelValues(label).Add(float64(len(batch)))
	now := c.now()
	for _, cm := range batch {
		cm.result, cm.err = result, err
		close(cm.done)
		c.metrics.commitSeconds.Observe(now.Sub(cm.submitted).Seconds())
	}
	c.finished(len(batch))
}

// apply runs one write of the pool in a slot, within the write timeout.
func (c *committer) apply(ctx context.Context, key types.NamespacedName, l *lane, events []Event) (string, error) {
	if ctx.Err() != nil {
		return "", errStopped
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return "", errStopped
	}
	defer func() { <-c.slots }()
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	result, last, err := c.writer.apply(wctx, key, events, l.last)
	l.last = last
	return result, err
}
