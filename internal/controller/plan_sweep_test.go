package controller

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/test/gen"
)

// TestPlanOrphans: a registration of this pool that is offline, has no pod and is not being
// created is removed once seen so for the grace, counted from the first sighting kept in
// the pool's history (a restart does not start the grace again).
func TestPlanOrphans(t *testing.T) {
	pool := testPool(gen.WithMinIdle(1))
	withPod := runnerFixture(pool, "aaaaa", 1)
	orphan := forge.Runner{ID: 2, Name: runnerName(pool, "bbbbb")}
	for _, tc := range []struct {
		name          string
		reg           forge.Runner
		inFlight      bool
		firstSeen     time.Duration // before t0; 0 = never seen
		wantRemoved   bool
		wantCandidate bool
	}{
		{"first seen: a candidate", orphan, false, 0, false, true},
		{"seen within the grace: still a candidate", orphan, false, 30 * time.Second, false, true},
		{"seen a grace ago: removed", orphan, false, time.Minute, true, false},
		{"online: not an orphan", forge.Runner{ID: 2, Name: orphan.Name, Online: true}, false, time.Hour, false, false},
		{"busy: not an orphan", forge.Runner{ID: 2, Name: orphan.Name, Busy: true}, false, time.Hour, false, false},
		{"being created: not an orphan", orphan, true, time.Hour, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pool.DeepCopy()
			if tc.firstSeen > 0 {
				p.Status.History.OrphanCandidates = []corralv1.OrphanCandidate{{Name: orphan.Name, FirstSeen: metav1.NewTime(t0.Add(-tc.firstSeen))}}
			}
			o := observed(p, Demand{}, withPod).withView([]forge.Runner{{ID: 1, Name: withPod.Name, Online: true}, tc.reg}, nil)
			if tc.inFlight {
				o.inFlight = map[string]bool{orphan.Name: true}
			}
			plan := planPool(o, testOptions)
			removed := len(plan.orphans) == 1 && plan.orphans[0].Name == orphan.Name
			if removed != tc.wantRemoved || len(plan.orphans) > 1 {
				t.Errorf("orphans = %v, want %s removed: %v", plan.orphans, orphan.Name, tc.wantRemoved)
			}
			candidate := len(plan.history.OrphanCandidates) == 1
			if candidate != tc.wantCandidate {
				t.Errorf("candidates = %v, want one: %v", plan.history.OrphanCandidates, tc.wantCandidate)
			}
			if candidate && tc.firstSeen > 0 && !plan.history.OrphanCandidates[0].FirstSeen.Time.Equal(t0.Add(-tc.firstSeen)) {
				t.Errorf("first sighting moved: %v", plan.history.OrphanCandidates[0].FirstSeen)
			}
			if plan.history.LastSweepTime == nil || !plan.history.LastSweepTime.Time.Equal(t0) {
				t.Errorf("lastSweepTime = %v, want t0", plan.history.LastSweepTime)
			}
		})
	}
}

func TestPlanOrphansBounded(t *testing.T) {
	pool := testPool()
	var listed []forge.Runner
	for i := range 300 {
		listed = append(listed, forge.Runner{ID: int64(i + 1), Name: runnerName(pool, string(rune('a'+i%26))+"x"+string(rune('a'+i/26%26))+"zz")})
	}
	p := planPool(observed(pool, Demand{}).withView(listed, nil), testOptions)
	if n := len(p.history.OrphanCandidates); n != corralv1.MaxOrphanCandidates {
		t.Errorf("%d candidates kept, want the bound %d", n, corralv1.MaxOrphanCandidates)
	}
}

func TestSweepDue(t *testing.T) {
	pool := testPool()
	last := func(d time.Duration) *corralv1.RunnerPool {
		p := pool.DeepCopy()
		p.Status.History.LastSweepTime = timeRef(t0.Add(-d))
		return p
	}
	withCandidate := last(70 * time.Second)
	withCandidate.Status.History.OrphanCandidates = []corralv1.OrphanCandidate{{Name: "x", FirstSeen: metav1.NewTime(t0.Add(-70 * time.Second))}}
	backingOff := last(time.Hour)
	backingOff.Status.History.ForgeRetryTime = timeRef(t0.Add(time.Second))
	freshCandidate := last(time.Second)
	freshCandidate.Status.History.OrphanCandidates = []corralv1.OrphanCandidate{{Name: "x", FirstSeen: metav1.NewTime(t0.Add(-time.Second))}}
	for _, tc := range []struct {
		name    string
		pool    *corralv1.RunnerPool
		started time.Duration // how long before t0 this process started
		want    bool
	}{
		{"created by this process, never swept", pool, 2 * time.Minute, false},
		{"created before this process started, never swept", pool, 30 * time.Second, true},
		{"swept before this process started", last(time.Minute), 30 * time.Second, true},
		{"swept a moment ago", last(time.Second), time.Hour, false},
		{"swept an interval (and its jitter) ago", last(testOptions.SweepInterval + testOptions.SweepInterval/10), time.Hour, true},
		{"a candidate waited out its grace", withCandidate, time.Hour, true},
		{"a candidate still within its grace", freshCandidate, time.Hour, false},
		{"the forge backs off", backingOff, time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := observed(tc.pool, Demand{})
			o.processStart = t0.Add(-tc.started)
			if got := sweepDue(o, testOptions); got != tc.want {
				t.Errorf("sweepDue = %v, want %v", got, tc.want)
			}
		})
	}
	if a, b := sweepJitter(pool.UID, time.Minute), sweepJitter(pool.UID, time.Minute); a != b || a >= 6*time.Second {
		t.Errorf("jitter %s, %s: want the same for a pool, below a tenth", a, b)
	}
}

// TestPlanDrain: a pool being deleted removes idle runners at once, waits for busy ones,
// removes its last registrations without a grace, then releases its finalizer; past the
// drain timeout everything goes without deregistering.
func TestPlanDrain(t *testing.T) {
	deleting := func(since time.Duration) *corralv1.RunnerPool {
		p := testPool(gen.WithMinIdle(2))
		p.DeletionTimestamp = timeRef(t0.Add(-since))
		p.Finalizers = []string{corralv1.FinalizerPool}
		return p
	}
	pool := deleting(time.Minute)
	idle, busy := runnerFixture(pool, "aaaaa", 1), runnerFixture(pool, "bbbbb", 2, busyMarked)

	p := planPool(observed(pool, Demand{}, idle, busy), testOptions)
	if got := removedNames(p); !slices.Equal(got, []string{idle.Name}) || p.create != 0 || p.releasePool {
		t.Errorf("removals %v, create %d, releasePool %v; want the idle runner only", got, p.create, p.releasePool)
	}
	if !p.removals[0].deregister || !p.removals[0].keepIfBusy {
		t.Errorf("a drained runner is deregistered first and kept if it turns out busy: %+v", p.removals[0])
	}

	o := observed(pool, Demand{})
	if !sweepDue(o, testOptions) {
		t.Fatalf("a drained pool sweeps one last time")
	}
	orphan := forge.Runner{ID: 3, Name: runnerName(pool, "ccccc")}
	p = planPool(o.withView([]forge.Runner{orphan}, nil), testOptions)
	if len(p.orphans) != 1 || !p.releasePool {
		t.Errorf("orphans %v, releasePool %v; want its last registration removed at once and the pool released", p.orphans, p.releasePool)
	}

	expired := deleting(11 * time.Minute)
	p = planPool(observed(expired, Demand{}, runnerFixture(expired, "aaaaa", 1), runnerFixture(expired, "bbbbb", 2, busyMarked)), testOptions)
	for _, rm := range p.removals {
		if rm.deregister {
			t.Errorf("past the drain timeout %s is deregistered", rm.rp.name())
		}
	}
	if len(p.removals) != 2 || p.releasePool {
		t.Errorf("removals %v: want both runners removed after the drain timeout", removedNames(p))
	}
}
