package controller

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/test/gen"
)

func TestDesiredRunners(t *testing.T) {
	for _, tc := range []struct {
		name               string
		minIdle, max       int32
		busy, queued, want int32
	}{
		{"minIdle only", 2, 10, 0, 0, 2},
		{"busy runners add to minIdle", 2, 10, 3, 0, 5},
		{"queued jobs add too", 1, 10, 2, 4, 7},
		{"capped at maxRunners", 5, 8, 6, 9, 8},
		{"paused", 3, 0, 2, 5, 0},
		{"scale to zero", 0, 10, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := testPool(gen.WithMinIdle(tc.minIdle), gen.WithMaxRunners(tc.max))
			if got := desiredRunners(pool, tc.busy, tc.queued); got != tc.want {
				t.Errorf("desiredRunners = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestScaleDownVictims(t *testing.T) {
	pool := testPool()
	mk := func(suffix string, mods ...podMod) corev1.Pod { return runnerFixture(pool, suffix, 1, mods...) }
	for _, tc := range []struct {
		name     string
		pods     []corev1.Pod
		desired  int32
		inFlight int32
		want     []string
	}{
		{"nothing in excess", []corev1.Pod{mk("aaaaa"), mk("bbbbb")}, 2, 0, nil},
		{"pending before idle", []corev1.Pod{mk("aaaaa"), mk("bbbbb", pendingPod)}, 1, 0, []string{"bbbbb"}},
		{"youngest idle first", []corev1.Pod{mk("aaaaa", ageOf(time.Hour)), mk("bbbbb", ageOf(time.Minute))}, 1, 0, []string{"bbbbb"}},
		{"busy never", []corev1.Pod{mk("aaaaa", busyMarked), mk("bbbbb", busyMarked)}, 0, 0, nil},
		{"outdated always, first", []corev1.Pod{mk("aaaaa", outdated), mk("bbbbb")}, 5, 0, []string{"aaaaa"}},
		{"creations in flight count but are never picked", []corev1.Pod{mk("aaaaa"), mk("bbbbb")}, 2, 1, []string{"aaaaa"}},
		{"finished and deleting pods are not runners", []corev1.Pod{mk("aaaaa", exited(0)), mk("bbbbb", deletingSince(0))}, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := observed(pool, Demand{}, tc.pods...)
			var got []string
			for _, v := range scaleDownVictims(o.runners, tc.desired, tc.inFlight) {
				got = append(got, strings.TrimPrefix(v.name(), o.prefix))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("victims = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPlanScale covers how many runners a reconcile creates, and that creations still in
// flight (the cache does not show their pods yet) are never created twice.
func TestPlanScale(t *testing.T) {
	pool := testPool(gen.WithMinIdle(2), gen.WithMaxRunners(4))
	mk := func(suffix string, mods ...podMod) corev1.Pod { return runnerFixture(pool, suffix, 1, mods...) }
	for _, tc := range []struct {
		name        string
		pods        []corev1.Pod
		queued      int32
		inFlight    []string
		wantCreate  int
		wantRemoved int
	}{
		{"empty pool gets minIdle", nil, 0, nil, 2, 0},
		{"queued jobs add runners", []corev1.Pod{mk("aaaaa"), mk("bbbbb")}, 1, nil, 1, 0},
		{"never past maxRunners", []corev1.Pod{mk("aaaaa", busyMarked), mk("bbbbb", busyMarked)}, 9, nil, 2, 0},
		{"creations in flight are counted", nil, 0, []string{"xxxxx", "yyyyy"}, 0, 0},
		{"one of two in flight", nil, 0, []string{"xxxxx"}, 1, 0},
		{"in flight at maxRunners: nothing more", []corev1.Pod{mk("aaaaa", busyMarked), mk("bbbbb", busyMarked)}, 9, []string{"x", "y"}, 0, 0},
		{"idle beyond desired removed", []corev1.Pod{mk("aaaaa"), mk("bbbbb"), mk("ccccc")}, 0, nil, 0, 1},
		{"outdated idle replaced", []corev1.Pod{mk("aaaaa", outdated), mk("bbbbb")}, 0, nil, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := observed(pool, Demand{Queued: tc.queued}, tc.pods...)
			o.inFlight = map[string]bool{}
			for _, n := range tc.inFlight {
				o.inFlight[n] = true
			}
			p := planPool(o, testOptions)
			if p.create != tc.wantCreate || len(p.removals) != tc.wantRemoved {
				t.Errorf("create %d, removals %v; want create %d, %d removals", p.create, removedNames(p), tc.wantCreate, tc.wantRemoved)
			}
			if got := p.active + int32(p.create); got > pool.Spec.MaxRunners {
				t.Errorf("plan leaves %d runners, more than maxRunners %d", got, pool.Spec.MaxRunners)
			}
		})
	}
}

// TestPlanRunners covers what happens to each runner pod by its state.
func TestPlanRunners(t *testing.T) {
	pool := testPool(gen.WithMinIdle(1))
	name := runnerName(pool, "aaaaa")
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		// want: "" nothing; "remove" without deregistering; "deregister" then remove;
		// "release" a deleting pod's finalizer after deregistering; "abandon" without.
		want        string
		wantFailure bool
		wantBusy    bool
		wantBlocked string
	}{
		{"idle runner is left alone", runnerFixture(pool, "aaaaa", 7), "", false, false, ""},
		{"finished its job: no call", runnerFixture(pool, "aaaaa", 7, exited(0)), "remove", false, false, ""},
		{"failed: deregistered, counted", runnerFixture(pool, "aaaaa", 7, exited(1)), "deregister", true, false, ""},
		{"exit 7: counted", runnerFixture(pool, "aaaaa", 7, exited(ExitCodeVersionDeprecated)), "deregister", true, false, ""},
		{"pending within its timeout", runnerFixture(pool, "aaaaa", 7, pendingPod, ageOf(time.Minute)), "", false, false, ""},
		{"pending too long", runnerFixture(pool, "aaaaa", 7, pendingPod, ageOf(11*time.Minute)), "deregister", true, false, ""},
		{"unschedulable too long", runnerFixture(pool, "aaaaa", 7, unschedulable, ageOf(11*time.Minute)), "deregister", true, false, corralv1.ReasonUnschedulable},
		{"no JIT Secret past the grace: replaced, not a failure", runnerFixture(pool, "aaaaa", 7, noJIT, ageOf(2*time.Minute)), "deregister", false, false, ""},
		{"no JIT Secret yet: the cache may lag", runnerFixture(pool, "aaaaa", 7, noJIT, ageOf(10*time.Second)), "", false, false, ""},
		{"deleted by a user: deregistered, released", runnerFixture(pool, "aaaaa", 7, deletingSince(time.Second)), "release", false, false, ""},
		{"deleted long ago: released without deregistering", runnerFixture(pool, "aaaaa", 7, deletingSince(11*time.Minute)), "abandon", false, false, ""},
		{"busy by webhook: recorded on the pod", runnerFixture(pool, "aaaaa", 7), "", false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			demand := Demand{}
			if tc.wantBusy {
				demand.BusyRunners = map[string]bool{name: true}
			}
			p := planPool(observed(pool, demand, tc.pod), testOptions)
			got := ""
			switch {
			case len(p.releases) == 1 && p.releases[0].abandon:
				got = "abandon"
			case len(p.releases) == 1:
				got = "release"
			case len(p.removals) == 1 && p.removals[0].deregister:
				got = "deregister"
			case len(p.removals) == 1:
				got = "remove"
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q (removals %v, releases %d)", got, tc.want, removedNames(p), len(p.releases))
			}
			if len(p.removals) == 1 && (p.removals[0].failure != "") != tc.wantFailure {
				t.Errorf("failure = %q, want a failure: %v", p.removals[0].failure, tc.wantFailure)
			}
			if busy := len(p.marks) == 1 && strings.HasPrefix(p.marks[0].value, "claimed:"); busy != tc.wantBusy {
				t.Errorf("marks = %v, want a webhook claim: %v", p.marks, tc.wantBusy)
			}
			if tc.wantBlocked != "" && (p.blocked == nil || p.blocked.Reason != tc.wantBlocked) {
				t.Errorf("blocked = %+v, want reason %s", p.blocked, tc.wantBlocked)
			}
		})
	}
}

// TestPlanStaleRunners: absence from a listing is never proof (pages shift while runners
// come and go); only a lookup answering "gone" removes a pod, and a lookup that finds the
// runner busy records it busy.
func TestPlanStaleRunners(t *testing.T) {
	pool := testPool(gen.WithMinIdle(1))
	pod := runnerFixture(pool, "aaaaa", 7)
	name := pod.Name
	for _, tc := range []struct {
		name        string
		listed      []forge.Runner
		lookups     map[string]lookup
		wantRemoved bool
		wantBusy    bool
	}{
		{"listed idle: kept", []forge.Runner{{ID: 7, Name: name, Online: true}}, nil, false, false},
		{"listed busy: recorded busy", []forge.Runner{{ID: 7, Name: name, Online: true, Busy: true}}, nil, false, true},
		{"missing from the list, not looked up: kept", nil, nil, false, false},
		{"missing, lookup finds it busy: recorded busy", nil, map[string]lookup{name: {runner: forge.Runner{ID: 7, Name: name, Busy: true}}}, false, true},
		{"missing, lookup finds it idle: kept", nil, map[string]lookup{name: {runner: forge.Runner{ID: 7, Name: name}}}, false, false},
		{"missing, lookup says gone: removed", nil, map[string]lookup{name: {gone: true}}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planPool(observed(pool, Demand{}, pod).withView(tc.listed, tc.lookups), testOptions)
			removed := slices.Contains(removedNames(p), name)
			if removed != tc.wantRemoved {
				t.Errorf("removed = %v, want %v", removed, tc.wantRemoved)
			}
			if removed && p.removals[0].deregister {
				t.Errorf("a registration known gone is not deregistered again")
			}
			if busy := len(p.marks) == 1 && p.marks[0].value == BusyConfirmed; busy != tc.wantBusy {
				t.Errorf("marks = %v, want confirmed busy: %v", p.marks, tc.wantBusy)
			}
		})
	}
}

// TestPlanBusyClaims: a webhook's word that a runner is busy is a claim; past BusyClaimTTL
// GitHub is asked, and its answer (busy, not busy, gone) decides. A refuted runner's later
// claims are ignored: a forged in_progress cannot pin a runner busy.
func TestPlanBusyClaims(t *testing.T) {
	pool := testPool(gen.WithMinIdle(1))
	claimed := func(ago time.Duration) podMod {
		return func(p *corev1.Pod) { p.Annotations[AnnotationBusy] = busyClaim(t0.Add(-ago)) }
	}
	fresh := runnerFixture(pool, "aaaaa", 1, claimed(time.Minute))
	stale := runnerFixture(pool, "bbbbb", 2, claimed(6*time.Minute))
	if got := staleClaims(observed(pool, Demand{}, fresh, stale), testOptions); len(got) != 1 || got[0].name() != stale.Name {
		t.Fatalf("staleClaims = %v, want only the claim older than the TTL", got)
	}
	for _, tc := range []struct {
		name      string
		answer    lookup
		wantMark  string
		wantState runnerState
		wantGone  bool
	}{
		{"GitHub says busy: confirmed", lookup{runner: forge.Runner{ID: 2, Name: stale.Name, Online: true, Busy: true}}, BusyConfirmed, stateBusy, false},
		{"GitHub says idle: refuted, the runner is idle", lookup{runner: forge.Runner{ID: 2, Name: stale.Name, Online: true}}, BusyRefuted, stateIdle, false},
		{"GitHub has no such runner: removed", lookup{gone: true}, "", stateDeleting, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := observed(pool, Demand{}, stale).withView(nil, map[string]lookup{stale.Name: tc.answer})
			p := planPool(o, testOptions)
			if tc.wantMark != "" && (len(p.marks) != 1 || p.marks[0].value != tc.wantMark) {
				t.Errorf("marks = %v, want %s", p.marks, tc.wantMark)
			}
			if got := p.runners[0].state; got != tc.wantState {
				t.Errorf("state = %s, want %s", got, tc.wantState)
			}
			if gone := slices.Contains(removedNames(p), stale.Name); gone != tc.wantGone {
				t.Errorf("removed = %v, want %v", gone, tc.wantGone)
			}
		})
	}
	refuted := runnerFixture(pool, "ccccc", 3, func(p *corev1.Pod) { p.Annotations[AnnotationBusy] = BusyRefuted })
	o := observed(pool, Demand{BusyRunners: map[string]bool{refuted.Name: true}}, refuted)
	if o.runners[0].state != stateIdle {
		t.Errorf("a refuted runner named busy again by a webhook is %s, want idle", o.runners[0].state)
	}
}

func TestNeedLookup(t *testing.T) {
	pool := testPool()
	listed := runnerFixture(pool, "aaaaa", 1)
	missing := runnerFixture(pool, "bbbbb", 2)
	young := runnerFixture(pool, "ccccc", 3, ageOf(10*time.Second))
	busy := runnerFixture(pool, "ddddd", 4, busyMarked)
	o := observed(pool, Demand{}, listed, missing, young, busy).withView([]forge.Runner{{ID: 1, Name: listed.Name}}, nil)
	var got []string
	for _, rp := range needLookup(o, testOptions) {
		got = append(got, rp.name())
	}
	if !slices.Equal(got, []string{missing.Name}) {
		t.Errorf("needLookup = %v, want only %s (young pods may not be registered yet; busy ones are known)", got, missing.Name)
	}
}

// TestPlanForgeBackoff: while the forge backs off, a reconcile (whatever triggered it)
// makes no forge call at all and comes back at the retry time; after it, one call probes.
func TestPlanForgeBackoff(t *testing.T) {
	pool := testPool(gen.WithMinIdle(3))
	pool.Status.History.ForgeFailures = 3
	pool.Status.History.ForgeRetryTime = timeRef(t0.Add(4 * time.Second))
	pods := []corev1.Pod{
		runnerFixture(pool, "aaaaa", 1, exited(1)),                    // would deregister
		runnerFixture(pool, "bbbbb", 2, deletingSince(0)),             // would deregister
		runnerFixture(pool, "ccccc", 3, exited(0)),                    // needs no call
		runnerFixture(pool, "ddddd", 4, pendingPod, ageOf(time.Hour)), // stuck: would deregister
	}
	o := observed(pool, Demand{}, pods...)
	if sweepDue(o, testOptions) {
		t.Errorf("a sweep is due while the forge backs off")
	}
	p := planPool(o, testOptions)
	if p.create != 0 || len(p.releases) != 0 || len(p.orphans) != 0 {
		t.Errorf("plan calls the forge while it backs off: create %d, releases %d, orphans %d", p.create, len(p.releases), len(p.orphans))
	}
	if got := removedNames(p); !slices.Equal(got, []string{pods[2].Name}) {
		t.Errorf("removals = %v, want only the runner that needs no call", got)
	}
	if p.requeue != 4*time.Second {
		t.Errorf("requeue = %s, want the retry time (4s)", p.requeue)
	}
	if p.blocked == nil || p.blocked.Reason != corralv1.ReasonGitHubUnavailable {
		t.Errorf("blocked = %+v, want GitHubUnavailable", p.blocked)
	}

	later := observed(pool, Demand{})
	later.now = t0.Add(5 * time.Second)
	p = planPool(later, testOptions)
	if !p.probe || p.create != 1 {
		t.Errorf("after the backoff: probe %v, create %d; want a probe of 1", p.probe, p.create)
	}
}

// TestPlanRunnerBackoff: after runner failures no runner is created before the backoff
// ends, and the reason is the persisted one (e.g. the admission refusal), not a generic one.
func TestPlanRunnerBackoff(t *testing.T) {
	pool := testPool(gen.WithMinIdle(2))
	pool.Status.History.RunnerFailures = 2
	pool.Status.History.LastRunnerFailureTime = timeRef(t0.Add(-5 * time.Second))
	p := planPool(observed(pool, Demand{}), testOptions)
	if p.create != 0 || p.requeue != 15*time.Second {
		t.Errorf("create %d, requeue %s; want none until 20 s after the failure (15s)", p.create, p.requeue)
	}
	if p.blocked == nil || p.blocked.Reason != corralv1.ReasonRunnerFailures {
		t.Errorf("blocked = %+v", p.blocked)
	}
	pool.Status.Conditions = []metav1.Condition{{Type: corralv1.ConditionScalingBlocked, Status: metav1.ConditionTrue,
		Reason: corralv1.ReasonQuotaExceeded, Message: "exceeded quota: pods"}}
	if p := planPool(observed(pool, Demand{}), testOptions); p.blocked == nil || p.blocked.Message != "exceeded quota: pods" {
		t.Errorf("blocked = %+v, want the persisted quota condition", p.blocked)
	}
	o := observed(pool, Demand{})
	o.now = t0.Add(16 * time.Second)
	if p := planPool(o, testOptions); p.create != 2 {
		t.Errorf("after the backoff create = %d, want 2", p.create)
	}
}

func TestPlanDeprecatedTemplate(t *testing.T) {
	pool := testPool(gen.WithMinIdle(1))
	pool.Status.History.DeprecatedTemplateHash = runnerFixture(pool, "aaaaa", 1).Annotations[corralv1.AnnotationTemplateHash]
	p := planPool(observed(pool, Demand{}), testOptions)
	if p.create != 0 || p.stalled == nil || p.stalled.Reason != corralv1.ReasonRunnerVersionDeprecated {
		t.Errorf("create %d, stalled %+v; want no runner from a refused template", p.create, p.stalled)
	}
	newer := testPool(gen.WithMinIdle(1), gen.WithImage("ghcr.io/corral-run/runner:2.999.0"))
	newer.Status.History = pool.Status.History
	if p := planPool(observed(newer, Demand{}), testOptions); p.create != 1 || p.stalled != nil {
		t.Errorf("a new image: create %d, stalled %+v; want the pool to resume", p.create, p.stalled)
	}
}

// TestPlanMoreThanOneBatch: a pool lacking more runners than one reconcile creates says so
// (more) without asking for an immediate requeue itself: finish decides, since the pacer
// may hold the registrations (then at once would only be paced again).
func TestPlanMoreThanOneBatch(t *testing.T) {
	for _, tc := range []struct {
		minIdle int32
		more    bool
	}{{minIdle: 3, more: false}, {minIdle: 4, more: true}, {minIdle: 200, more: true}} {
		opts := testOptions
		opts.MaxCreatesPerReconcile = 3
		p := planPool(observed(testPool(gen.WithMinIdle(tc.minIdle), gen.WithMaxRunners(200)), Demand{}), opts)
		if p.create != 3 || p.more != tc.more {
			t.Errorf("minIdle %d: create %d, more %v; want 3, %v", tc.minIdle, p.create, p.more, tc.more)
		}
		if p.requeue != 0 && p.requeue < time.Second {
			t.Errorf("minIdle %d: requeue %s; the plan asks for no immediate look of its own", tc.minIdle, p.requeue)
		}
	}
}
