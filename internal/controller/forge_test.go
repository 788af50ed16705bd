package controller

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
)

// TestForgeSessionTrips: once the forge failed, no further call of the reconcile is sent;
// per-runner answers (gone, busy) do not trip it; the forge is built once, on first use.
func TestForgeSessionTrips(t *testing.T) {
	for _, tc := range []struct {
		name     string
		first    error
		wantSent int32
		tripped  bool
	}{
		{"transient", forge.ErrTransient, 1, true},
		{"rate limited", &forge.RateLimitError{Until: t0, Err: errors.New("limit")}, 1, true},
		{"refused credential", forge.ErrUnauthorized, 1, true},
		{"gone is an answer", forge.ErrGone, 3, false},
		{"busy is an answer", forge.ErrBusy, 3, false},
		{"success", nil, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent, built atomic.Int32
			f := &fakeForge{deregister: func(int64) error {
				if sent.Add(1) == 1 {
					return tc.first
				}
				return nil
			}}
			s := &forgeSession{build: func(context.Context) (Forge, error) { built.Add(1); return f, nil }}
			for i := range 3 {
				_ = s.deregister(context.Background(), int64(i+1))
			}
			if sent.Load() != tc.wantSent || built.Load() != 1 {
				t.Errorf("sent %d calls (built %d times), want %d (built once)", sent.Load(), built.Load(), tc.wantSent)
			}
			if (s.err() != nil) != tc.tripped {
				t.Errorf("tripped = %v, want %v", s.err(), tc.tripped)
			}
		})
	}
	// A forge that cannot be built (a missing Secret) trips the session without any call.
	s := &forgeSession{build: func(context.Context) (Forge, error) { return nil, forge.ErrCredentialsInvalid }}
	if _, err := s.runners(context.Background(), "p-"); forge.KindOf(err) != forge.KindCredentials || s.answered() {
		t.Errorf("err %v, answered %v", err, s.answered())
	}
}

func TestForgeSessionDeregisterGone(t *testing.T) {
	s := &forgeSession{build: func(context.Context) (Forge, error) {
		return &fakeForge{deregister: func(int64) error { return forge.ErrGone }}, nil
	}}
	if err := s.deregister(context.Background(), 1); err != nil || !s.answered() {
		t.Errorf("a registration already gone counts as removed: %v", err)
	}
}

func TestExpectations(t *testing.T) {
	pool := testPool()
	var e expectations
	shown := observed(pool, Demand{}, runnerFixture(pool, "aaaaa", 1)).runners
	e.expect(pool.UID, runnerName(pool, "aaaaa"), t0)
	e.expect(pool.UID, runnerName(pool, "bbbbb"), t0)
	runners, inFlight := e.observe(pool.UID, shown, t0.Add(time.Second))
	if len(runners) != 1 || len(inFlight) != 1 || !inFlight[runnerName(pool, "bbbbb")] {
		t.Errorf("after the cache showed aaaaa: runners %d, in flight %v; want bbbbb in flight", len(runners), inFlight)
	}
	// A removal the cache does not show yet hides the pod from the plan.
	e.removed(pool.UID, runnerName(pool, "aaaaa"), t0)
	if runners, _ := e.observe(pool.UID, shown, t0.Add(time.Second)); len(runners) != 0 {
		t.Errorf("a removed pod the cache still shows is no runner: %d", len(runners))
	}
	if runners, _ := e.observe(pool.UID, nil, t0.Add(time.Second)); len(runners) != 0 {
		t.Errorf("settled removal")
	}
	if runners, _ := e.observe(pool.UID, shown, t0.Add(2*time.Second)); len(runners) != 1 {
		t.Errorf("once settled, the cache is trusted again")
	}
	// A creation that never shows up is trusted no more after the timeout.
	if _, inFlight := e.observe(pool.UID, nil, t0.Add(expectationTimeout+time.Second)); len(inFlight) != 0 {
		t.Errorf("expired creations still in flight: %v", inFlight)
	}
	e.forgetPool(pool.UID)
	if _, inFlight := e.observe(pool.UID, nil, t0); inFlight != nil {
		t.Errorf("a forgotten pool has nothing in flight")
	}
}

// TestOwnWrites: a reconcile that reads the pool from a cache that has not caught up with
// the previous reconcile's status write decides on the status it wrote.
func TestOwnWrites(t *testing.T) {
	pool := testPool()
	var w ownWrites
	written := pool.Status.DeepCopy()
	written.History.RunnerFailures = 1
	written.History.DeprecatedTemplateHash = "abc"
	t0 := time.Now()
	w.record(pool.UID, written, t0)

	stale := pool.DeepCopy()
	stale.Status.Demand = &corralv1.PoolDemand{Queued: "41234567890+250"}
	w.overlay(stale)
	if stale.Status.History.DeprecatedTemplateHash != "abc" || stale.Status.Demand == nil || stale.Status.Demand.Queued != "41234567890+250" {
		t.Errorf("overlay: history %+v, demand %v; want the written history and the cache's demand", stale.Status.History, stale.Status.Demand)
	}
	caughtUp := pool.DeepCopy()
	caughtUp.Status = *written.DeepCopy()
	w.overlay(caughtUp)
	later := pool.DeepCopy()
	later.Status.History.RunnerFailures = 5 // nothing recorded any more: the cache is trusted
	w.overlay(later)
	if later.Status.History.RunnerFailures != 5 {
		t.Errorf("once the cache showed the write, it is trusted again: %+v", later.Status.History)
	}
	if got := w.lastWrite(pool.UID); !got.Equal(t0) {
		t.Errorf("the time of the last write is kept after the cache caught up: %v, want %v", got, t0)
	}
	w.forget(pool.UID)
	if got := w.lastWrite(pool.UID); !got.IsZero() {
		t.Errorf("a forgotten pool keeps its last write time %v", got)
	}
}

// TestBusyMarksOverlay: a busy mark just written is seen by the next reconcile even when the
// cache lags, so it is not patched twice; once the cache shows it, or the pod is gone, it
// is forgotten.
func TestBusyMarksOverlay(t *testing.T) {
	pool := testPool()
	mk := func(suffix string, uid types.UID) corev1.Pod {
		p := runnerFixture(pool, suffix, 1)
		p.UID = uid
		return p
	}
	var e expectations
	claim := busyClaim(t0)
	e.marked(pool.UID, "a", claim, nil)
	e.marked(pool.UID, "gone", claim, nil)

	lagging := []corev1.Pod{mk("aaaaa", "a"), mk("bbbbb", "b")}
	e.overlayMarks(pool.UID, lagging)
	if got := lagging[0].Annotations[AnnotationBusy]; got != claim {
		t.Fatalf("the lagging pod's mark = %q, want the one written, %q", got, claim)
	}
	if _, ok := lagging[1].Annotations[AnnotationBusy]; ok {
		t.Errorf("a pod nothing was written to got a mark")
	}
	demand := Demand{BusyRunners: map[string]bool{lagging[0].Name: true}}
	if p := planPool(observed(pool, demand, lagging...), Options{}.withDefaults()); len(p.marks) != 0 {
		t.Errorf("the overtaking reconcile patches the mark again: %v", p.marks)
	}
	if _, ok := e.marks[pool.UID]["gone"]; ok {
		t.Errorf("the mark of a pod no longer listed is kept")
	}

	caughtUp := []corev1.Pod{mk("aaaaa", "a")}
	caughtUp[0].Annotations[AnnotationBusy] = claim
	e.overlayMarks(pool.UID, caughtUp)
	if len(e.marks[pool.UID]) != 0 {
		t.Errorf("marks the cache shows are kept: %v", e.marks[pool.UID])
	}
	// Later marks come from the cache alone: GitHub confirming the claim, say.
	later := []corev1.Pod{mk("aaaaa", "a")}
	later[0].Annotations[AnnotationBusy] = BusyConfirmed
	e.overlayMarks(pool.UID, later)
	if got := later[0].Annotations[AnnotationBusy]; got != BusyConfirmed {
		t.Errorf("a settled mark overrides the cache: %q", got)
	}
	e.marked(pool.UID, "a", BusyConfirmed, nil)
	e.forgetPool(pool.UID)
	if e.marks[pool.UID] != nil {
		t.Errorf("forgetPool keeps marks")
	}
}
