package autoscale

import (
	"reflect"
	"slices"
	"testing"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/test/gen"
)

func ev(id int64, action string, runner string, at time.Time) Event {
	state, _ := stateOf(action)
	return Event{JobID: id, Action: action, State: state, RunnerName: runner, Repository: "acme/app", ReceivedAt: at}
}

// states summarises demand entries as id -> state/runner suffix.
func states(entries []corralv1.DemandEntry) map[int64]string {
	out := map[int64]string{}
	for _, e := range entries {
		out[e.ID] = string(e.State) + "/" + e.Runner
	}
	return out
}

// testPrefix is the runner name prefix of the pool the merge tests merge into.
const testPrefix = "builders-0a1b2c-"

func TestMergeDemandMovesOnlyForward(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{DemandTTL: time.Hour, CompletedTTL: time.Hour, MaxJobs: 100}
	own := testPrefix + "r1x2y"
	cases := []struct {
		name    string
		entries []corralv1.DemandEntry
		events  []Event
		want    map[int64]string
		changed bool
	}{
		{"queued adds demand", nil, []Event{ev(1, "queued", "", t0)}, map[int64]string{1: "Queued/"}, true},
		{"waiting is queued", nil, []Event{ev(1, "waiting", "", t0)}, map[int64]string{1: "Queued/"}, true},
		{"in_progress on the pool's runner: running", []corralv1.DemandEntry{gen.QueuedJob(1, t0)}, []Event{ev(1, "in_progress", own, t0)}, map[int64]string{1: "InProgress/r1x2y"}, true},
		{"in_progress on another pool's runner: done here", []corralv1.DemandEntry{gen.QueuedJob(1, t0)}, []Event{ev(1, "in_progress", "other-0a1b2c-r1x2y", t0)}, map[int64]string{1: "Completed/"}, true},
		{"in_progress on a runner named like the pool's but longer", []corralv1.DemandEntry{gen.QueuedJob(1, t0)}, []Event{ev(1, "in_progress", own+"-abcde", t0)}, map[int64]string{1: "Completed/"}, true},
		{"in_progress without a runner: done here", []corralv1.DemandEntry{gen.QueuedJob(1, t0)}, []Event{ev(1, "in_progress", "", t0)}, map[int64]string{1: "Completed/"}, true},
		{"completed ends it", []corralv1.DemandEntry{gen.RunningJob(1, "r1x2y", t0)}, []Event{ev(1, "completed", own, t0)}, map[int64]string{1: "Completed/"}, true},
		{"duplicate queued: no news", []corralv1.DemandEntry{gen.QueuedJob(1, t0)}, []Event{ev(1, "queued", "", t0.Add(time.Minute))}, map[int64]string{1: "Queued/"}, false},
		{"duplicate in_progress, other runner: no news", []corralv1.DemandEntry{gen.RunningJob(1, "r1x2y", t0)}, []Event{ev(1, "in_progress", testPrefix+"zzzzz", t0)}, map[int64]string{1: "InProgress/r1x2y"}, false},
		{"completed before queued: tombstone", nil, []Event{ev(1, "completed", "", t0), ev(1, "queued", "", t0)}, map[int64]string{1: "Completed/"}, true},
		{"late queued after completion", []corralv1.DemandEntry{gen.DoneJob(1, t0)}, []Event{ev(1, "queued", "", t0)}, map[int64]string{1: "Completed/"}, false},
		{"late in_progress after completion", []corralv1.DemandEntry{gen.DoneJob(1, t0)}, []Event{ev(1, "in_progress", own, t0)}, map[int64]string{1: "Completed/"}, false},
		{"late queued after in_progress", []corralv1.DemandEntry{gen.RunningJob(1, "r1x2y", t0)}, []Event{ev(1, "queued", "", t0)}, map[int64]string{1: "InProgress/r1x2y"}, false},
		{"in_progress overtook queued", nil, []Event{ev(1, "in_progress", own, t0), ev(1, "queued", "", t0)}, map[int64]string{1: "InProgress/r1x2y"}, true},
		{"cancelled while queued", []corralv1.DemandEntry{gen.QueuedJob(1, t0)}, []Event{ev(1, "completed", "", t0)}, map[int64]string{1: "Completed/"}, true},
		{"job ID 0 ignored", nil, []Event{ev(0, "queued", "", t0)}, map[int64]string{}, false},
		{"batch of jobs", []corralv1.DemandEntry{gen.QueuedJob(1, t0)}, []Event{ev(2, "queued", "", t0), ev(3, "queued", "", t0), ev(1, "in_progress", own, t0)},
			map[int64]string{1: "InProgress/r1x2y", 2: "Queued/", 3: "Queued/"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.entries)
			got, changed := mergeDemand(tc.entries, tc.events, testPrefix, t0, p)
			if changed != tc.changed || !reflect.DeepEqual(states(got), tc.want) {
				t.Errorf("mergeDemand = %v (changed %v), want %v (changed %v)", states(got), changed, tc.want, tc.changed)
			}
			if !reflect.DeepEqual(before, tc.entries) {
				t.Error("mergeDemand modified its input")
			}
		})
	}
}

func TestMergeDemandTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{DemandTTL: time.Hour, CompletedTTL: time.Hour}
	entries, _ := mergeDemand(nil, []Event{ev(1, "queued", "", t0)}, testPrefix, t0.Add(time.Second), p)
	if !entries[0].At.Equal(t0) {
		t.Fatalf("queued entry = %+v, want the receipt time", entries[0])
	}
	entries, _ = mergeDemand(entries, []Event{ev(1, "in_progress", testPrefix+"abcde", t0.Add(time.Minute))}, testPrefix, t0.Add(time.Minute), p)
	if !entries[0].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("running entry = %+v, want the time it was taken", entries[0])
	}
	// An event without a receipt time, or with one in the future, is stamped now.
	entries, _ = mergeDemand(nil, []Event{{JobID: 2, State: corralv1.JobQueued}, ev(3, "queued", "", t0.Add(time.Hour))}, testPrefix, t0, p)
	if !entries[0].At.Equal(t0) || !entries[1].At.Equal(t0) {
		t.Errorf("entries = %+v, want both at now", entries)
	}
}

func TestMergeDemandExpiresAndBounds(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{DemandTTL: 2 * time.Hour, CompletedTTL: 30 * time.Minute, MaxJobs: 4}
	entries := []corralv1.DemandEntry{
		gen.DoneJob(1, now.Add(-time.Hour)),                  // tombstone past its TTL: dropped
		gen.DoneJob(2, now.Add(-10*time.Minute)),             // recent tombstone: kept unless over the bound
		gen.QueuedJob(3, now.Add(-3*time.Hour)),              // no news past the demand TTL: dropped
		gen.RunningJob(4, "abcde", now.Add(-90*time.Minute)), // within the demand TTL
		gen.QueuedJob(5, now.Add(-time.Minute)),
	}
	got, changed := mergeDemand(entries, []Event{ev(6, "queued", "", now)}, testPrefix, now, p)
	if !changed || !reflect.DeepEqual(states(got), map[int64]string{2: "Completed/", 4: "InProgress/abcde", 5: "Queued/", 6: "Queued/"}) {
		t.Fatalf("after expiry = %v", states(got))
	}
	// Over the bound: the oldest tombstone goes first, then the stalest others.
	got, _ = mergeDemand(got, []Event{ev(7, "queued", "", now)}, testPrefix, now, p)
	if !reflect.DeepEqual(states(got), map[int64]string{4: "InProgress/abcde", 5: "Queued/", 6: "Queued/", 7: "Queued/"}) {
		t.Fatalf("bound with a tombstone = %v, want job 2 dropped", states(got))
	}
	got, _ = mergeDemand(got, []Event{ev(8, "queued", "", now)}, testPrefix, now, p)
	if !reflect.DeepEqual(states(got), map[int64]string{5: "Queued/", 6: "Queued/", 7: "Queued/", 8: "Queued/"}) {
		t.Fatalf("bound without tombstones = %v, want the stalest (4) dropped", states(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].ID >= got[i].ID {
			t.Fatalf("entries not sorted by ID: %v", got)
		}
	}
	// No news: nothing to write, even if something has expired meanwhile.
	later := now.Add(5 * time.Hour)
	if same, changed := mergeDemand(got, []Event{ev(5, "queued", "", later)}, testPrefix, later, p); changed || len(same) != 4 {
		t.Errorf("duplicate after expiry: changed %v, %d entries", changed, len(same))
	}
}

func TestDemandOf(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pool := gen.RunnerPool("p", gen.WithDemand(
		gen.QueuedJob(1, now.Add(-time.Minute)),
		gen.QueuedJob(2, now.Add(-10*time.Minute)),
		gen.RunningJob(3, "abcde", now.Add(-time.Hour)),
		gen.QueuedJob(4, now.Add(-3*time.Hour)), // expired: its follow-up was lost
		gen.DoneJob(5, now),
		gen.QueuedJob(6, now.Add(-20*time.Minute)),
		gen.RunningJob(8, "stale", now.Add(-5*time.Hour)),
	))
	prefix := github.RunnerNamePrefix(pool.Name, pool.UID)
	d := DemandOf(pool, now, 2*time.Hour)
	if d.Queued != 3 {
		t.Errorf("Queued = %d, want 3", d.Queued)
	}
	if !reflect.DeepEqual(d.BusyRunners, map[string]bool{prefix + "abcde": true}) {
		t.Errorf("BusyRunners = %v, want %sabcde only", d.BusyRunners, prefix)
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

// TestRunnerSuffixLengthsAgree: the API's running entries hold exactly the random part of
// the runner names the controller makes.
func TestRunnerSuffixLengthsAgree(t *testing.T) {
	if github.RunnerSuffixLength != corralv1.DemandRunnerSuffixLength {
		t.Fatalf("runner names end in %d random characters, status.demand holds %d", github.RunnerSuffixLength, corralv1.DemandRunnerSuffixLength)
	}
	pool := gen.RunnerPool("p")
	runner := github.NewRunnerName(github.RunnerNamePrefix(pool.Name, pool.UID))
	entries, _ := mergeDemand(nil, []Event{ev(1, "in_progress", runner, time.Now())}, github.RunnerNamePrefix(pool.Name, pool.UID), time.Now(), Policy{})
	pool.Status.Demand = corralv1.EncodeDemand(entries)
	if d := DemandOf(pool, time.Now(), time.Hour); !reflect.DeepEqual(d.BusyRunners, map[string]bool{runner: true}) {
		t.Errorf("busy runners = %v, want %s: a runner name the controller makes does not survive status.demand", d.BusyRunners, runner)
	}
}

// TestRunningEntryLifeIsBounded: an in_progress makes a runner busy for at most DemandTTL
// after Corral received it, whatever follows: a repeated in_progress (a redelivery, or a
// forgery by whoever holds the secret) is not news and does not extend it, and a payload
// cannot date it in the future.
func TestRunningEntryLifeIsBounded(t *testing.T) {
	p := Policy{DemandTTL: DefaultDemandTTL, CompletedTTL: DefaultCompletedTTL, MaxJobs: 100}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	runner := testPrefix + "abcde"
	entries, _ := mergeDemand(nil, []Event{ev(1, "in_progress", runner, t0.Add(time.Hour))}, testPrefix, t0, p)
	if got := entries[0]; got.State != corralv1.JobInProgress || !got.At.Equal(t0) {
		t.Fatalf("entry %+v: want running since t0 (a future time is clamped to now)", got)
	}
	again := t0.Add(DefaultDemandTTL - time.Hour)
	if _, changed := mergeDemand(entries, []Event{ev(1, "in_progress", runner, again)}, testPrefix, again, p); changed {
		t.Error("a repeated in_progress refreshed the running entry")
	}
	pool := gen.RunnerPool("builders", gen.WithDemand(gen.RunningJob(1, "abcde", t0)))
	prefix := github.RunnerNamePrefix(pool.Name, pool.UID)
	after := t0.Add(DefaultDemandTTL + time.Second)
	if d := DemandOf(pool, after, DefaultDemandTTL); d.BusyRunners[prefix+"abcde"] {
		t.Error("the runner still counts as busy past the demand TTL")
	}
	if pruned, _ := mergeDemand(entries, []Event{ev(2, "queued", "", after)}, testPrefix, after, p); len(pruned) != 1 || pruned[0].ID != 2 {
		t.Errorf("the next write keeps the expired running entry: %v", states(pruned))
	}
}
