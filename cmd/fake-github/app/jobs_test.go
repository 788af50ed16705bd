package app

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// sent records the deliveries a dispatcher sends.
type sent struct {
	mu     sync.Mutex
	events []string // "<action> <job ID> <runner>"
}

func (s *sent) send(_ context.Context, action string, j Job) githubtest.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, action+" "+strconv.FormatInt(j.ID, 10)+" "+j.Runner)
	return githubtest.Delivery{StatusCode: 202}
}

func (s *sent) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// fakePods is a podDriver recording exits.
type fakePods struct {
	mu    sync.Mutex
	exits []string
	archs map[string]string
}

func (f *fakePods) exit(_ context.Context, runner string, code int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exits = append(f.exits, runner)
	return nil
}

func (f *fakePods) arch(runner string) string {
	if a, ok := f.archs[runner]; ok {
		return a
	}
	return "x64"
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestDispatcher(t *testing.T) (*dispatcher, *githubtest.Server, *sent, *fakePods) {
	t.Helper()
	gh := githubtest.New(githubtest.Options{})
	s := &sent{}
	d := newDispatcher(gh, s.send, time.Hour, quiet())
	pods := &fakePods{archs: map[string]string{}}
	d.pods = pods
	return d, gh, s, pods
}

func addRunner(gh *githubtest.Server, name string, online bool, labels ...string) {
	gh.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: name, Labels: labels, Online: online, Ephemeral: true})
}

func TestDispatcherRunsAJobOnAMatchingIdleRunner(t *testing.T) {
	ctx := context.Background()
	d, gh, s, pods := newTestDispatcher(t)
	addRunner(gh, "offline", false, "gpu")
	addRunner(gh, "wrong-labels", true, "cpu")
	addRunner(gh, "gpu-1", true, "GPU")
	resp, err := d.queue(ctx, QueueRequest{Labels: []string{"self-hosted", "linux", "gpu"}, Duration: "0s"})
	if err != nil || len(resp.Jobs) != 1 || resp.Delivered != 1 {
		t.Fatalf("queue = %+v, %v; want one delivered job", resp, err)
	}
	d.tick(ctx) // assigns, and (duration 0) finishes
	jobs := d.list()
	if jobs[0].Runner != "gpu-1" || jobs[0].State != JobCompleted || jobs[0].Conclusion != "success" || jobs[0].Lost {
		t.Fatalf("job = %+v, want completed with success on gpu-1 (online, idle, labels match case-insensitively)", jobs[0])
	}
	if _, ok := gh.Runner("gpu-1"); ok {
		t.Errorf("the ephemeral registration of gpu-1 is still there after its job")
	}
	want := []string{"queued 101 ", "in_progress 101 gpu-1", "completed 101 gpu-1"}
	if got := s.list(); !slices.Equal(got, want) {
		t.Errorf("deliveries = %q, want %q", got, want)
	}
	if len(pods.exits) != 1 || pods.exits[0] != "gpu-1" {
		t.Errorf("pod exits = %q, want [gpu-1]", pods.exits)
	}
}

func TestDispatcherHoldsJobsUntilReleased(t *testing.T) {
	ctx := context.Background()
	d, gh, _, _ := newTestDispatcher(t)
	addRunner(gh, "r1", true)
	if _, err := d.queue(ctx, QueueRequest{Count: 2, Labels: []string{"self-hosted"}, Hold: true, Duration: "0s"}); err != nil {
		t.Fatal(err)
	}
	d.tick(ctx)
	d.tick(ctx)
	jobs := d.list()
	if jobs[0].State != JobInProgress || jobs[1].State != JobQueued {
		t.Fatalf("held jobs = %+v / %+v, want the first running (held), the second queued (one runner)", jobs[0], jobs[1])
	}
	if n := d.release(0); n != 2 {
		t.Errorf("release = %d, want 2 (running and queued held jobs)", n)
	}
	d.tick(ctx)
	if got := d.list()[0]; got.State != JobCompleted {
		t.Errorf("released job = %+v, want completed", got)
	}
}

func TestDispatcherArchitectureLabelComesFromTheNode(t *testing.T) {
	ctx := context.Background()
	d, gh, _, pods := newTestDispatcher(t)
	addRunner(gh, "amd", true)
	addRunner(gh, "arm", true)
	pods.archs["arm"] = "arm64"
	if _, err := d.queue(ctx, QueueRequest{Labels: []string{"self-hosted", "ARM64"}}); err != nil {
		t.Fatal(err)
	}
	d.tick(ctx)
	if got := d.list()[0]; got.Runner != "arm" {
		t.Errorf("job runner = %q, want arm (the only arm64 runner)", got.Runner)
	}
}

func TestRunnerGoneLosesItsJob(t *testing.T) {
	ctx := context.Background()
	d, gh, s, _ := newTestDispatcher(t)
	addRunner(gh, "r1", true)
	if _, err := d.queue(ctx, QueueRequest{Labels: []string{"self-hosted"}, Hold: true}); err != nil {
		t.Fatal(err)
	}
	d.tick(ctx)
	d.runnerGone("r1", "pod deleted")
	d.tick(ctx) // flushes the outbox
	j := d.list()[0]
	if j.State != JobCompleted || !j.Lost || j.Conclusion != "failure" {
		t.Errorf("job = %+v, want completed, lost, failure", j)
	}
	if got := s.list(); got[len(got)-1] != "completed 101 r1" {
		t.Errorf("last delivery = %q, want the completed delivery of the lost job", got[len(got)-1])
	}
}

func TestQueueRejectsBadRequests(t *testing.T) {
	d, _, _, _ := newTestDispatcher(t)
	for _, req := range []QueueRequest{{}, {Labels: []string{"x"}, Duration: "soon"}, {Labels: []string{"x"}, Duration: "-1s"}} {
		if _, err := d.queue(context.Background(), req); err == nil {
			t.Errorf("queue(%+v) succeeded, want an error", req)
		}
	}
}

// A tick's deliveries of different jobs are in flight together, as GitHub sends them: the
// receiver here answers job 101's in_progress only once job 102's arrived, which a sender
// going one delivery after the other would never let happen. One job's deliveries, and its
// pod's exit, stay in order.
func TestDispatcherSendsATicksDeliveriesInParallel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, gh, s, pods := newTestDispatcher(t)
	addRunner(gh, "r1", true)
	addRunner(gh, "r2", true)
	if _, err := d.queue(ctx, QueueRequest{Count: 2, Labels: []string{"self-hosted"}, Duration: "0s"}); err != nil {
		t.Fatal(err)
	}
	second := make(chan struct{})
	var once sync.Once
	d.send = func(ctx context.Context, action string, j Job) githubtest.Delivery {
		if action == "in_progress" && j.ID == 102 {
			once.Do(func() { close(second) })
		}
		if action == "in_progress" && j.ID == 101 {
			select {
			case <-second:
			case <-ctx.Done():
				return githubtest.Delivery{StatusCode: 504}
			}
		}
		return s.send(ctx, action, j)
	}
	d.tick(ctx) // assigns both and (duration 0) finishes both
	if ctx.Err() != nil {
		t.Fatalf("the tick sent its deliveries one after the other: job 101 waited for job 102 in vain")
	}
	got := s.list()
	for _, id := range []string{"101", "102"} {
		var mine []string
		for _, e := range got {
			if f := strings.Fields(e); f[1] == id {
				mine = append(mine, f[0])
			}
		}
		if want := []string{"queued", "in_progress", "completed"}; !slices.Equal(mine, want) {
			t.Errorf("job %s deliveries = %q, want %q in order", id, mine, want)
		}
	}
	if len(pods.exits) != 2 {
		t.Errorf("pod exits = %q, want both runners", pods.exits)
	}
}
