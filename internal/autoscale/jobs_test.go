package autoscale

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

func ev(id int64, action string, runner string, at time.Time) Event {
	state, _ := stateOf(action)
	return Event{JobID: id, Action: action, State: state, RunnerName: runner, Repository: "acme/app", ReceivedAt: at}
}

// states summarises jobs as id -> state/runner.
func states(jobs []corralv1.Job) map[int64]string {
	out := map[int64]string{}
	for _, j := range jobs {
		out[j.ID] = string(j.State) + "/" + j.RunnerName
	}
	return out
}

func TestMergeJobsMovesOnlyForward(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{DemandTTL: time.Hour, CompletedTTL: time.Hour, MaxJobs: 100}
	cases := []struct {
		name    string
		jobs    []corralv1.Job
		events  []Event
		want    map[int64]string
		changed bool
	}{
		{"queued adds demand", nil, []Event{ev(1, "queued", "", t0)}, map[int64]string{1: "Queued/"}, true},
		{"waiting is queued", nil, []Event{ev(1, "waiting", "", t0)}, map[int64]string{1: "Queued/"}, true},
		{"in_progress assigns the runner", []corralv1.Job{gen.QueuedJob(1, t0)}, []Event{ev(1, "in_progress", "r1", t0)}, map[int64]string{1: "InProgress/r1"}, true},
		{"completed ends it, runner kept", []corralv1.Job{gen.InProgressJob(1, "r1", t0)}, []Event{ev(1, "completed", "", t0)}, map[int64]string{1: "Completed/r1"}, true},
		{"duplicate queued: no news", []corralv1.Job{gen.QueuedJob(1, t0)}, []Event{ev(1, "queued", "", t0.Add(time.Minute))}, map[int64]string{1: "Queued/"}, false},
		{"completed before queued: tombstone", nil, []Event{ev(1, "completed", "", t0), ev(1, "queued", "", t0)}, map[int64]string{1: "Completed/"}, true},
		{"late queued after completion", []corralv1.Job{gen.CompletedJob(1, t0)}, []Event{ev(1, "queued", "", t0)}, map[int64]string{1: "Completed/"}, false},
		{"late in_progress after completion", []corralv1.Job{gen.CompletedJob(1, t0)}, []Event{ev(1, "in_progress", "r9", t0)}, map[int64]string{1: "Completed/"}, false},
		{"in_progress overtook queued", nil, []Event{ev(1, "in_progress", "r1", t0), ev(1, "queued", "", t0)}, map[int64]string{1: "InProgress/r1"}, true},
		{"cancelled while queued", []corralv1.Job{gen.QueuedJob(1, t0)}, []Event{ev(1, "completed", "", t0)}, map[int64]string{1: "Completed/"}, true},
		{"batch of jobs", []corralv1.Job{gen.QueuedJob(1, t0)}, []Event{ev(2, "queued", "", t0), ev(3, "queued", "", t0), ev(1, "in_progress", "r1", t0)},
			map[int64]string{1: "InProgress/r1", 2: "Queued/", 3: "Queued/"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]corralv1.Job(nil), tc.jobs...)
			got, changed := mergeJobs(tc.jobs, tc.events, t0, p)
			if changed != tc.changed || !reflect.DeepEqual(states(got), tc.want) {
				t.Errorf("mergeJobs = %v (changed %v), want %v (changed %v)", states(got), changed, tc.want, tc.changed)
			}
			if !reflect.DeepEqual(before, tc.jobs) {
				t.Error("mergeJobs modified its input")
			}
		})
	}
}

func TestMergeJobsKeepsQueueTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{DemandTTL: time.Hour, CompletedTTL: time.Hour}
	jobs, _ := mergeJobs(nil, []Event{ev(1, "queued", "", t0)}, t0.Add(time.Second), p)
	if jobs[0].QueuedAt == nil || !jobs[0].QueuedAt.Time.Equal(t0) || !jobs[0].UpdatedAt.Time.Equal(t0) {
		t.Fatalf("queued job = %+v, want queuedAt and updatedAt at receipt", jobs[0])
	}
	jobs, _ = mergeJobs(jobs, []Event{ev(1, "in_progress", "r", t0.Add(time.Minute))}, t0.Add(time.Minute), p)
	if !jobs[0].QueuedAt.Time.Equal(t0) || !jobs[0].UpdatedAt.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("after in_progress = %+v, want queuedAt kept and updatedAt moved", jobs[0])
	}
	// An event without a receipt time is stamped now.
	jobs, _ = mergeJobs(nil, []Event{{JobID: 2, State: corralv1.JobQueued}}, t0, p)
	if !jobs[0].UpdatedAt.Time.Equal(t0) {
		t.Errorf("updatedAt = %v, want now", jobs[0].UpdatedAt)
	}
}

func TestMergeJobsExpiresAndBounds(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{DemandTTL: 2 * time.Hour, CompletedTTL: 30 * time.Minute, MaxJobs: 4}
	jobs := []corralv1.Job{
		gen.CompletedJob(1, now.Add(-time.Hour)),            // completed past its TTL: dropped
		gen.CompletedJob(2, now.Add(-10*time.Minute)),       // recent completed: kept unless over the bound
		gen.QueuedJob(3, now.Add(-3*time.Hour)),             // no news past the demand TTL: dropped
		gen.InProgressJob(4, "r", now.Add(-90*time.Minute)), // within the demand TTL
		gen.QueuedJob(5, now.Add(-time.Minute)),
	}
	got, changed := mergeJobs(jobs, []Event{ev(6, "queued", "", now)}, now, p)
	if !changed || !reflect.DeepEqual(states(got), map[int64]string{2: "Completed/", 4: "InProgress/r", 5: "Queued/", 6: "Queued/"}) {
		t.Fatalf("after expiry = %v", states(got))
	}
	// Over the bound: the oldest completed goes first, then the stalest others.
	got, _ = mergeJobs(got, []Event{ev(7, "queued", "", now)}, now, p)
	if !reflect.DeepEqual(states(got), map[int64]string{4: "InProgress/r", 5: "Queued/", 6: "Queued/", 7: "Queued/"}) {
		t.Fatalf("bound with a completed job = %v, want job 2 dropped", states(got))
	}
	got, _ = mergeJobs(got, []Event{ev(8, "queued", "", now)}, now, p)
	if !reflect.DeepEqual(states(got), map[int64]string{5: "Queued/", 6: "Queued/", 7: "Queued/", 8: "Queued/"}) {
		t.Fatalf("bound without completed jobs = %v, want the stalest (4) dropped", states(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].ID >= got[i].ID {
			t.Fatalf("jobs not sorted by ID: %v", got)
		}
	}
	// No news: nothing to write, even if something has expired meanwhile.
	later := now.Add(5 * time.Hour)
	if same, changed := mergeJobs(got, []Event{ev(5, "queued", "", later)}, later, p); changed || len(same) != 4 {
		t.Errorf("duplicate after expiry: changed %v, %d jobs", changed, len(same))
	}
}

func TestDemandOf(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	old := gen.QueuedJob(4, now.Add(-3*time.Hour))
	noQueuedAt := corralv1.Job{ID: 6, State: corralv1.JobQueued, UpdatedAt: metav1.NewTime(now.Add(-20 * time.Minute))}
	pool := gen.RunnerPool("p", gen.WithJobs(
		gen.QueuedJob(1, now.Add(-time.Minute)),
		gen.QueuedJob(2, now.Add(-10*time.Minute)),
		gen.InProgressJob(3, "runner-a", now.Add(-time.Hour)),
		old, // expired: its follow-up was lost
		gen.CompletedJob(5, now),
		noQueuedAt,
		gen.InProgressJob(7, "", now),
		gen.InProgressJob(8, "runner-stale", now.Add(-5*time.Hour)),
	))
	d := DemandOf(pool, now, 2*time.Hour)
	if d.Queued != 3 {
		t.Errorf("Queued = %d, want 3", d.Queued)
	}
	if !reflect.DeepEqual(d.BusyRunners, map[string]bool{"runner-a": true}) {
		t.Errorf("BusyRunners = %v, want runner-a only", d.BusyRunners)
	}
	want := []time.Time{now.Add(-20 * time.Minute), now.Add(-10 * time.Minute), now.Add(-time.Minute)}
	if !reflect.DeepEqual(d.QueuedSince, want) || d.OldestQueued == nil || !d.OldestQueued.Equal(want[0]) {
		t.Errorf("QueuedSince = %v, OldestQueued = %v; want %v", d.QueuedSince, d.OldestQueued, want)
	}
	if d := DemandOf(pool, now, 0); d.Queued != 4 || len(d.BusyRunners) != 2 {
		t.Errorf("without a TTL: %d queued, %d busy; want 4 and 2", d.Queued, len(d.BusyRunners))
	}
	empty := DemandOf(gen.RunnerPool("p"), now, time.Hour)
	if empty.Queued != 0 || empty.BusyRunners == nil || empty.OldestQueued != nil {
		t.Errorf("empty demand = %+v", empty)
	}
}
