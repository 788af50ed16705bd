package app

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// podDriver plays the runner process inside a runner pod (the agent).
type podDriver interface {
	// exit makes the runner's pod terminate with code.
	exit(ctx context.Context, runner string, code int) error
	// arch is the architecture label ("x64", "arm64") of the node the runner's pod runs on.
	arch(runner string) string
}

// parallelDeliveries bounds the deliveries of one queue request, or of one dispatch tick, in
// flight at once.
const parallelDeliveries = 16

// job is a Job with the dispatcher's bookkeeping.
type job struct {
	Job
	duration  time.Duration
	since     time.Time // when its duration started counting (taken, or released)
	announced bool      // its queued delivery was sent: it may be handed to a runner
}

// event is a delivery (and, for a finished job, a pod exit) waiting to be sent in order.
type event struct {
	action string
	job    Job
	exit   bool
}

// dispatcher is GitHub's job scheduler: it hands queued jobs to idle online runners whose
// labels match, finishes them after their duration and sends the workflow_job deliveries.
type dispatcher struct {
	gh          *githubtest.Server
	send        func(ctx context.Context, action string, j Job) githubtest.Delivery
	defDuration time.Duration
	log         *slog.Logger
	pods        podDriver // nil: no agent

	mu     sync.Mutex
	jobs   []*job // by ID
	nextID int64
	outbox []event
}

func newDispatcher(gh *githubtest.Server, send func(context.Context, string, Job) githubtest.Delivery, d time.Duration, log *slog.Logger) *dispatcher {
	return &dispatcher{gh: gh, send: send, defDuration: d, log: log, nextID: 100}
}

// queue creates jobs and sends their queued deliveries before they may be taken.
func (d *dispatcher) queue(ctx context.Context, req QueueRequest) (QueueResponse, error) {
	dur := d.defDuration
	if req.Duration != "" {
		var err error
		if dur, err = time.ParseDuration(req.Duration); err != nil || dur < 0 {
			return QueueResponse{}, fmt.Errorf("duration %q is not a positive Go duration", req.Duration)
		}
	}
	if len(req.Labels) == 0 {
		return QueueResponse{}, fmt.Errorf("a job needs runs-on labels")
	}
	count := max(req.Count, 1)
	d.mu.Lock()
	created := make([]*job, 0, count)
	for range count {
		d.nextID++
		j := &job{Job: Job{ID: d.nextID, Labels: append([]string(nil), req.Labels...), State: JobQueued, Hold: req.Hold,
			Duration: dur.String(), QueuedAt: time.Now()}, duration: dur}
		d.jobs = append(d.jobs, j)
		created = append(created, j)
	}
	d.mu.Unlock()

	// GitHub sends the deliveries of a burst in parallel, not one after the other: a
	// receiver that answers once it recorded the job (as Corral's does) sees them together.
	var resp QueueResponse
	inParallel(len(created), func(i int) {
		j := created[i]
		at := time.Now()
		ok := d.send(ctx, "queued", j.Job).Succeeded()
		d.mu.Lock()
		defer d.mu.Unlock()
		j.Delivered = map[string]time.Time{"queued": at}
		if ok {
			resp.Delivered++
		} else {
			resp.Failed++
		}
		j.announced = true
	})
	d.mu.Lock()
	for _, j := range created {
		resp.Jobs = append(resp.Jobs, j.snapshot())
	}
	d.mu.Unlock()
	d.log.Info("jobs queued", "count", count, "labels", strings.Join(req.Labels, ","), "hold", req.Hold, "delivered", resp.Delivered)
	return resp, nil
}

// list is a snapshot of every job.
func (d *dispatcher) list() []Job {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Job, 0, len(d.jobs))
	for _, j := range d.jobs {
		out = append(out, j.snapshot())
	}
	return out
}

// snapshot is a copy of the job that later changes do not touch; the caller holds d.mu.
func (j *job) snapshot() Job {
	out := j.Job
	out.Delivered = make(map[string]time.Time, len(j.Delivered))
	for action, at := range j.Delivered {
		out.Delivered[action] = at
	}
	return out
}

// release lets every held job finish: running ones after dur, queued ones dur after they
// are taken.
func (d *dispatcher) release(dur time.Duration) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, j := range d.jobs {
		if j.Hold && j.State != JobCompleted {
			j.Hold, j.duration, j.Duration = false, dur, dur.String()
			j.since = time.Now() // a running job runs dur from now on
			n++
		}
	}
	return n
}

// runnerGone records that a runner's pod went away or terminated. A job it was running is
// lost (GitHub fails it): Corral must never remove a busy runner.
func (d *dispatcher) runnerGone(name, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, j := range d.jobs {
		if j.State != JobInProgress || j.Runner != name {
			continue
		}
		now := time.Now()
		j.State, j.Conclusion, j.Lost, j.CompletedAt = JobCompleted, "failure", true, &now
		_ = d.gh.FinishJob(name)
		d.outbox = append(d.outbox, event{action: "completed", job: j.Job})
		d.log.Warn("busy runner lost: job failed", "job", j.ID, "runner", name, "why", why)
	}
}

// run dispatches every interval until ctx is done.
func (d *dispatcher) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.tick(ctx)
		}
	}
}

// tick hands announced queued jobs to idle runners, finishes jobs whose time is up, then
// sends the resulting deliveries and pod exits. As GitHub does, the deliveries of different
// jobs go out in parallel (each waits only for its own answer); one job's go in order, and
// its runner's pod exits after its completed delivery was answered.
func (d *dispatcher) tick(ctx context.Context) {
	d.mu.Lock()
	d.assignLocked()
	d.finishLocked()
	out := d.outbox
	d.outbox = nil
	d.mu.Unlock()
	var byJob [][]event
	index := map[int64]int{}
	for _, ev := range out {
		i, ok := index[ev.job.ID]
		if !ok {
			i = len(byJob)
			index[ev.job.ID] = i
			byJob = append(byJob, nil)
		}
		byJob[i] = append(byJob[i], ev)
	}
	inParallel(len(byJob), func(i int) {
		for _, ev := range byJob[i] {
			d.sent(ev.job.ID, ev.action, time.Now())
			d.send(ctx, ev.action, ev.job)
			if ev.exit && d.pods != nil {
				if err := d.pods.exit(ctx, ev.job.Runner, 0); err != nil {
					d.log.Warn("runner pod did not exit", "runner", ev.job.Runner, "error", err.Error())
				}
			}
		}
	})
}

// inParallel calls fn(0..n-1), at most parallelDeliveries at once, and waits for all.
func inParallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelDeliveries)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// get is a snapshot of job id.
func (d *dispatcher) get(id int64) (Job, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	j := d.findLocked(id)
	if j == nil {
		return Job{}, false
	}
	return j.snapshot(), true
}

// findLocked is job id, nil when there is none (d.jobs is sorted by ID).
func (d *dispatcher) findLocked(id int64) *job {
	i := sort.Search(len(d.jobs), func(i int) bool { return d.jobs[i].ID >= id })
	if i == len(d.jobs) || d.jobs[i].ID != id {
		return nil
	}
	return d.jobs[i]
}

// sent records when the first delivery of action for job id went out.
func (d *dispatcher) sent(id int64, action string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	j := d.findLocked(id)
	if j == nil {
		return
	}
	if j.Delivered == nil {
		j.Delivered = map[string]time.Time{}
	}
	if _, ok := j.Delivered[action]; !ok {
		j.Delivered[action] = at
	}
}

// assignLocked gives each announced queued job (oldest first) to the oldest idle online
// runner whose labels it matches, as GitHub does.
func (d *dispatcher) assignLocked() {
	var idle []githubtest.Runner
	for _, r := range d.gh.Runners() {
		if r.Online && !r.Busy {
			idle = append(idle, r)
		}
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].ID < idle[j].ID })
	for _, j := range d.jobs {
		if j.State != JobQueued || !j.announced {
			continue
		}
		for i, r := range idle {
			if !r.MatchesJob(j.Labels, d.arch(r.Name)) || d.gh.StartJob(r.Name) != nil {
				continue
			}
			now := time.Now()
			j.State, j.Runner, j.StartedAt, j.since = JobInProgress, r.Name, &now, now
			d.outbox = append(d.outbox, event{action: "in_progress", job: j.Job})
			d.log.Info("job started", "job", j.ID, "runner", r.Name)
			idle = append(idle[:i], idle[i+1:]...)
			break
		}
	}
}

// finishLocked completes the running jobs whose duration passed: GitHub removes the
// ephemeral registration, then the runner process exits 0.
func (d *dispatcher) finishLocked() {
	now := time.Now()
	for _, j := range d.jobs {
		if j.State != JobInProgress || j.Hold || now.Sub(j.since) < j.duration {
			continue
		}
		if err := d.gh.FinishJob(j.Runner); err != nil {
			d.log.Warn("finishing job", "job", j.ID, "runner", j.Runner, "error", err.Error())
		}
		j.State, j.Conclusion, j.CompletedAt = JobCompleted, "success", &now
		d.outbox = append(d.outbox, event{action: "completed", job: j.Job, exit: true})
		d.log.Info("job completed", "job", j.ID, "runner", j.Runner)
	}
}

// arch is the architecture label of the machine runner runs on: its pod's node with an
// agent, x64 without.
func (d *dispatcher) arch(runner string) string {
	if d.pods != nil {
		return d.pods.arch(runner)
	}
	return githubtest.ArchLabel("")
}
