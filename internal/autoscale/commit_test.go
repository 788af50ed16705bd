package autoscale

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

// fakeWriter is a demand store in memory: it records each write's events, can hold writes
// until released, fail them, and take a while over each.
type fakeWriter struct {
	took   time.Duration
	result string
	err    error
	hold   chan struct{} // nil: writes pass; else each write waits for a receive

	mu       sync.Mutex
	batches  map[types.NamespacedName][][]int64
	starts   map[types.NamespacedName][]time.Time
	inFlight map[types.NamespacedName]int
	maxPool  int // most writes of one pool in flight at once
	all      int // writes in flight, all pools
	maxAll   int
	written  map[int64]bool // job IDs written (successfully)
}

func newFakeWriter() *fakeWriter {
	return &fakeWriter{
		result: resultApplied, batches: map[types.NamespacedName][][]int64{}, starts: map[types.NamespacedName][]time.Time{},
		inFlight: map[types.NamespacedName]int{}, written: map[int64]bool{},
	}
}

func (w *fakeWriter) apply(ctx context.Context, key types.NamespacedName, events []Event, _ *lastWrite) (string, *lastWrite, error) {
	w.mu.Lock()
	w.starts[key] = append(w.starts[key], time.Now())
	w.inFlight[key]++
	w.all++
	w.maxPool, w.maxAll = max(w.maxPool, w.inFlight[key]), max(w.maxAll, w.all)
	hold, took := w.hold, w.took
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.inFlight[key]--
		w.all--
		w.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
	select {
	case <-time.After(took):
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]int64, len(events))
	for i, ev := range events {
		ids[i] = ev.JobID
	}
	w.batches[key] = append(w.batches[key], ids)
	if w.err != nil {
		return "", nil, w.err
	}
	for _, id := range ids {
		w.written[id] = true
	}
	return w.result, nil, nil
}

func (w *fakeWriter) writes(key types.NamespacedName) [][]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]int64(nil), w.batches[key]...)
}

func (w *fakeWriter) started(key types.NamespacedName) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.starts[key])
}

func (w *fakeWriter) isWritten(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written[id]
}

// startCommitter runs a committer over w until the test ends.
func startCommitter(t *testing.T, w demandWriter, interval time.Duration, capacity, parallel int) *committer {
	t.Helper()
	c := newCommitter(w, interval, time.Second, capacity, parallel, NewMetrics(nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for {
		c.mu.Lock()
		running := c.life != nil
		c.mu.Unlock()
		if running {
			return c
		}
		time.Sleep(time.Millisecond)
	}
}

// waitFor polls cond for up to a second.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

var poolA, poolB, poolC = key("ns", "a"), key("ns", "b"), key("ns", "c")

func TestCommitterGroupsTheEventsOfAPool(t *testing.T) {
	w := newFakeWriter()
	w.hold = make(chan struct{})
	c := startCommitter(t, w, 0, 100, 4)
	first, err := c.submit(poolA, Event{JobID: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first write", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.inFlight[poolA] == 1 })
	var later []*commit
	for i := range 10 {
		cm, err := c.submit(poolA, Event{JobID: int64(i + 2)})
		if err != nil {
			t.Fatal(err)
		}
		later = append(later, cm)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := first.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the first event's write is held, yet wait returned %v", err)
	}
	close(w.hold)
	for _, cm := range append(later, first) {
		if result, err := cm.wait(context.Background()); err != nil || result != resultApplied {
			t.Fatalf("commit of job %d: %q, %v", cm.ev.JobID, result, err)
		}
	}
	got := w.writes(poolA)
	if len(got) != 2 || len(got[0]) != 1 || len(got[1]) != 10 {
		t.Errorf("writes = %v, want [[1] [2 ... 11]]: the events that waited share one write", got)
	}
	if w.maxPool != 1 {
		t.Errorf("%d writes of one pool were in flight at once, want 1", w.maxPool)
	}
	waitFor(t, "an empty backlog", func() bool { return c.Backlog() == 0 })
}

func TestCommitterWritesPoolsInParallelUpToItsSlots(t *testing.T) {
	w := newFakeWriter()
	w.took = 30 * time.Millisecond
	c := startCommitter(t, w, 0, 100, 2)
	var commits []*commit
	for _, k := range []types.NamespacedName{poolA, poolB, poolC} {
		cm, err := c.submit(k, Event{JobID: 1})
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, cm)
	}
	for _, cm := range commits {
		if _, err := cm.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if w.maxAll != 2 {
		t.Errorf("%d pools written at once, want 2 (the slots)", w.maxAll)
	}
}

func TestCommitterPacesTheWritesOfAPool(t *testing.T) {
	w := newFakeWriter()
	const interval = 80 * time.Millisecond
	c := startCommitter(t, w, interval, 100, 4)
	start := time.Now()
	var commits []*commit
	for i := range 3 {
		cm, err := c.submit(poolA, Event{JobID: int64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, cm)
		time.Sleep(10 * time.Millisecond)
	}
	for _, cm := range commits {
		if _, err := cm.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	w.mu.Lock()
	starts := append([]time.Time(nil), w.starts[poolA]...)
	w.mu.Unlock()
	if len(starts) != 2 || starts[0].Sub(start) > 30*time.Millisecond || starts[1].Sub(starts[0]) < interval {
		t.Errorf("writes started at %v after the first submit, want 2: one at once, the next %s later", offsets(start, starts), interval)
	}
	// After a quiet spell the first write starts at once again.
	time.Sleep(interval)
	again := time.Now()
	cm, _ := c.submit(poolA, Event{JobID: 9})
	if _, err := cm.wait(context.Background()); err != nil || time.Since(again) > 30*time.Millisecond {
		t.Errorf("write after a quiet spell took %s (%v), want at once", time.Since(again), err)
	}
}

func offsets(from time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(from)
	}
	return out
}

func TestCommitterReportsEachWritesOutcomeToItsEvents(t *testing.T) {
	cases := []struct {
		name   string
		result string
		err    error
		want   error
	}{
		{"applied", resultApplied, nil, nil},
		{"no news", resultUnchanged, nil, nil},
		{"pool deleted", resultPoolGone, nil, nil},
		{"refused as invalid", resultRejected, nil, errRejected},
		{"failed", "", errors.New("etcd is unavailable"), errors.New("etcd is unavailable")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWriter()
			w.result, w.err = tc.result, tc.err
			c := startCommitter(t, w, 0, 100, 4)
			m := c.metrics
			cm, err := c.submit(poolA, Event{JobID: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cm.wait(context.Background())
			if (err == nil) != (tc.want == nil) || (err != nil && err.Error() != tc.want.Error()) {
				t.Errorf("wait = %v, want %v", err, tc.want)
			}
			label := tc.result
			if tc.err != nil {
				label = resultFailed
			}
			if v := testutil.ToFloat64(m.jobEvents.WithLabelValues(label)); v != 1 {
				t.Errorf("job events %s = %v, want 1", label, v)
			}
		})
	}
}

func TestCommitterBoundsTheBacklog(t *testing.T) {
	w := newFakeWriter()
	w.hold = make(chan struct{})
	c := startCommitter(t, w, 0, 2, 4)
	for i := range 3 {
		_, err := c.submit(poolA, Event{JobID: int64(i + 1)})
		if want := i == 2; errors.Is(err, errBacklogFull) != want {
			t.Fatalf("submit %d to a backlog of 2: %v", i, err)
		}
	}
	if c.Backlog() != 2 {
		t.Errorf("backlog = %d, want 2", c.Backlog())
	}
	close(w.hold)
	waitFor(t, "an empty backlog", func() bool { return c.Backlog() == 0 })
	if _, err := c.submit(poolA, Event{JobID: 4}); err != nil {
		t.Errorf("submit once the backlog drained: %v", err)
	}
}

func TestCommitterBoundsEachWrite(t *testing.T) {
	w := newFakeWriter()
	w.hold = make(chan struct{}) // never released: a write that hangs
	c := newCommitter(w, 0, 50*time.Millisecond, 10, 1, NewMetrics(nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.run(ctx)
	waitFor(t, "the committer", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.life != nil })
	cm, err := c.submit(poolA, Event{JobID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cm.wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a hanging write: %v, want the write timeout", err)
	}
	// The lane is free again: the next event gets its own write.
	cm, _ = c.submit(poolA, Event{JobID: 2})
	if _, err := cm.wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) || w.started(poolA) != 2 {
		t.Errorf("next write: %v after %d writes", err, w.started(poolA))
	}
}

// TestCommitterStopsLikeAKill: a committer stopped while a write is in flight and events
// wait fails them all; nothing is reported as recorded that was not.
func TestCommitterStopsLikeAKill(t *testing.T) {
	w := newFakeWriter()
	w.hold = make(chan struct{}) // the write in flight never finishes by itself
	c := newCommitter(w, 0, time.Minute, 10, 1, NewMetrics(nil))
	if _, err := c.submit(poolA, Event{JobID: 1}); !errors.Is(err, errStopped) {
		t.Fatalf("submit before run: %v, want errStopped", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); c.run(ctx) }()
	waitFor(t, "the committer", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.life != nil })
	inFlight, _ := c.submit(poolA, Event{JobID: 1})
	waitFor(t, "the write", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.inFlight[poolA] == 1 })
	waiting, _ := c.submit(poolA, Event{JobID: 2})
	other, _ := c.submit(poolB, Event{JobID: 3}) // waits for the only slot
	cancel()
	<-stopped
	for _, cm := range []*commit{inFlight, waiting, other} {
		if _, err := cm.wait(context.Background()); err == nil {
			t.Errorf("job %d reported recorded after the stop", cm.ev.JobID)
		}
	}
	if w.isWritten(1) || w.isWritten(2) || w.isWritten(3) || c.Backlog() != 0 {
		t.Errorf("jobs written after all, or backlog %d after the stop", c.Backlog())
	}
	if _, err := c.submit(poolA, Event{JobID: 4}); !errors.Is(err, errStopped) {
		t.Errorf("submit after the stop: %v, want errStopped", err)
	}
}

// TestHandlerAnswersOnlyPersistedDeliveries runs the real handler, recorder and committer
// over a store that takes 20 ms per write: a burst of 50 concurrent deliveries is answered
// within well under a second, in a few group writes, and each delivery's answer comes
// only after the write carrying its job.
func TestHandlerAnswersOnlyPersistedDeliveries(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = corralv1.AddToScheme(scheme)
	pool := gen.RunnerPool("builders", gen.WithLabels("podman"))
	pools := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pool).Build()
	w := newFakeWriter()
	w.took = 20 * time.Millisecond
	m := NewMetrics(nil)
	c := startCommitter(t, w, DefaultCommitInterval, 1000, DefaultWorkers)
	h, _ := newTestHandler(&recorder{pools: pools, committer: c, metrics: m}, staticKeys{testSecret})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const burst = 50
	var (
		wg       sync.WaitGroup
		early    atomic.Int64
		accepted atomic.Int64
	)
	start := time.Now()
	for i := range burst {
		wg.Go(func() {
			id := int64(i + 1)
			body := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "queued", ID: id, Labels: []string{"podman"}})
			status, _, err := githubtest.SendWebhook(context.Background(), srv.Client(), srv.URL+DefaultPath,
				githubtest.WebhookRequest{Event: "workflow_job", Payload: body, Secret: string(testSecret)})
			if err == nil && status == http.StatusAccepted {
				accepted.Add(1)
			}
			if !w.isWritten(id) {
				early.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	writes := w.writes(key(pool.Namespace, pool.Name))
	t.Logf("burst of %d: answered in %s, %d writes", burst, took, len(writes))
	if accepted.Load() != burst || early.Load() != 0 {
		t.Fatalf("%d of %d accepted, %d answered before their write", accepted.Load(), burst, early.Load())
	}
	if took > 500*time.Millisecond {
		t.Errorf("the burst took %s, want well under a second", took)
	}
	if len(writes) > 10 {
		t.Errorf("%d writes for a burst of %d, want a few (group commit)", len(writes), burst)
	}
}

func completedEvent(id int64) Event {
	return Event{JobID: id, Action: "completed", State: corralv1.JobCompleted, RunnerName: "runner-" + strconv.FormatInt(id, 10)}
}

// A completion lingers for the next write other events call for, and rides in it; a lone
// completion is written once linger has passed, never later, never lost.
func TestCommitterLetsCompletionsLingerForAWriteOthersNeed(t *testing.T) {
	w := newFakeWriter()
	c := startCommitter(t, w, 0, 100, 4)
	c.linger = 300 * time.Millisecond
	done, err := c.submit(poolA, completedEvent(1))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := w.started(poolA); n != 0 {
		t.Fatalf("%d writes started for a lone completion within its linger, want 0", n)
	}
	queued, err := c.submit(poolA, Event{JobID: 2, Action: "queued", State: corralv1.JobQueued})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range []*commit{done, queued} {
		if _, err := cm.wait(context.Background()); err != nil {
			t.Fatalf("job %d: %v", cm.ev.JobID, err)
		}
	}
	if got := w.writes(poolA); len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("writes = %v, want one write carrying the completion and the queued job", got)
	}

	start := time.Now()
	lone, err := c.submit(poolA, completedEvent(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lone.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("a lone completion was written after %s, want about its linger (300ms)", took)
	}
	if got := w.writes(poolA); len(got) != 2 || len(got[1]) != 1 || got[1][0] != 3 {
		t.Errorf("writes = %v, want the lone completion in a write of its own", got)
	}
}

// Events that change runner counts are written at once even when completions linger:
// queued, in progress, and a job cancelled while queued (completed without a runner).
func TestCommitterNeverDelaysEventsThatChangeRunnerCounts(t *testing.T) {
	w := newFakeWriter()
	c := startCommitter(t, w, 0, 100, 4)
	c.linger = time.Hour
	for _, ev := range []Event{
		{JobID: 1, Action: "queued", State: corralv1.JobQueued},
		{JobID: 2, Action: "in_progress", State: corralv1.JobInProgress, RunnerName: "r"},
		{JobID: 3, Action: "completed", State: corralv1.JobCompleted},
	} {
		start := time.Now()
		cm, err := c.submit(poolA, ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cm.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("%s event written after %s, want at once", ev.Action, took)
		}
	}
}

func TestCompletionLingerMustBeUnderTheCommitTimeout(t *testing.T) {
	o := Options{CompletionLinger: 8 * time.Second, CommitTimeout: 8 * time.Second}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "completion linger") {
		t.Errorf("Validate = %v, want the completion linger refused", err)
	}
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
