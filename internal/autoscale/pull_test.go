package autoscale

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
)

// pullFixture is a fake GitHub with an App whose webhook URL leads nowhere, and a puller
// reading its delivery log.
type pullFixture struct {
	srv  *githubtest.Server
	app  githubtest.App
	sink *recordingRecorder
	k8s  client.Client
	p    *puller
}

func newPullFixture(t *testing.T, srvOpts githubtest.Options, opts PullOptions) *pullFixture {
	t.Helper()
	srv, app, k8s, ref := appSecretFixture(t, srvOpts)
	sink := &recordingRecorder{}
	opts.CredentialsRefs, opts.GitHubURL = []types.NamespacedName{ref}, srv.URL()
	o := Options{Pull: opts}.withDefaults()
	return &pullFixture{srv: srv, app: app, sink: sink, k8s: k8s,
		p: newPuller(o.Pull, ref, k8s, k8s, k8s, sink, time.Second, NewMetrics(nil), nil)}
}

// log adds n workflow_job events of action to the App's log, as GitHub logs them when it
// cannot connect to the webhook URL, and returns them.
func (f *pullFixture) log(action string, ids ...int64) []githubtest.Delivery {
	var out []githubtest.Delivery
	for _, id := range ids {
		payload := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: action, ID: id, Labels: []string{"self-hosted"}})
		out = append(out, f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 0, Payload: payload}))
	}
	return out
}

// applied counts the events recorded per job and action.
func (f *pullFixture) applied() map[string]int {
	out := map[string]int{}
	for _, ev := range f.sink.got() {
		out[strconv.FormatInt(ev.JobID, 10)+"/"+string(ev.State)]++
	}
	return out
}

// saved is the progress in the ConfigMap, or "" without one.
func (f *pullFixture) saved(t *testing.T) string {
	var cm corev1.ConfigMap
	if err := f.k8s.Get(context.Background(), types.NamespacedName{Namespace: "corral-system", Name: "corral-pull-app"}, &cm); err != nil {
		return ""
	}
	return cm.Data[pullKeyAfter]
}

func TestPullAppliesEveryEventOnceAndResumesFromItsProgress(t *testing.T) {
	f := newPullFixture(t, githubtest.Options{}, PullOptions{})
	ctx := context.Background()
	f.log("queued", 1, 2)
	f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "ping", StatusCode: 0, Payload: []byte(`{}`)})
	// An event some receiver did take is GitHub's too: in pull mode nothing else applied it.
	f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 202,
		Payload: githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "in_progress", ID: 1, RunnerName: "r-1"})})
	last := f.log("completed", 2)[0]

	if wait := f.p.cycle(ctx); wait != f.p.opts.Interval {
		t.Fatalf("cycle asked to wait %s, want the interval %s", wait, f.p.opts.Interval)
	}
	want := map[string]int{"1/Queued": 1, "2/Queued": 1, "1/InProgress": 1, "2/Completed": 1}
	if got := f.applied(); len(got) != len(want) || got["1/Queued"] != 1 || got["2/Queued"] != 1 || got["1/InProgress"] != 1 || got["2/Completed"] != 1 {
		t.Fatalf("applied %v, want %v", got, want)
	}
	if n := f.srv.CallCount(githubtest.EndpointAppHookDelivery); n != 4 {
		t.Errorf("fetched %d payloads, want 4 (not the ping)", n)
	}
	// The first cycle saves at once (nothing was saved yet); the next within 30 s do not.
	if got := f.saved(t); got != strconv.FormatInt(last.ID, 10) {
		t.Errorf("saved progress %q, want the last delivery %d", got, last.ID)
	}

	// Nothing new: one list call, nothing fetched, nothing applied twice.
	f.srv.ResetCounts()
	f.p.cycle(ctx)
	if l, g := f.srv.CallCount(githubtest.EndpointAppHookDeliveries), f.srv.CallCount(githubtest.EndpointAppHookDelivery); l != 1 || g != 0 {
		t.Errorf("an idle cycle made %d list and %d get calls, want 1 and 0", l, g)
	}

	// A new process (the leader moved, or a restart) takes only what came after the
	// saved progress, though nothing of the first process's memory is left.
	late := f.log("queued", 3)[0]
	f.srv.ResetCounts()
	next := newPuller(f.p.opts, f.p.ref, f.k8s, f.k8s, f.k8s, f.sink, time.Second, NewMetrics(nil), nil)
	next.cycle(ctx)
	if g := f.srv.CallCount(githubtest.EndpointAppHookDelivery); g != 1 {
		t.Errorf("the new process fetched %d payloads, want only the one logged after the saved progress", g)
	}
	if got := f.applied(); got["3/Queued"] != 1 || got["1/Queued"] != 1 {
		t.Errorf("after the restart applied %v, want job 3 once and nothing again", got)
	}
	if err := next.state.save(ctx, pullProgress{app: next.app, after: next.after}, next.now(), true); err != nil {
		t.Fatal(err)
	}
	if got := f.saved(t); got != strconv.FormatInt(late.ID, 10) {
		t.Errorf("saved progress %q after the restart, want %d", got, late.ID)
	}
}

func TestPullKeepsWhatFailedForTheNextCycle(t *testing.T) {
	f := newPullFixture(t, githubtest.Options{}, PullOptions{})
	ctx := context.Background()
	logged := f.log("queued", 1, 2, 3)
	// GitHub answers 502 to one payload fetch (payloads are fetched several at once).
	f.srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointAppHookDelivery, Status: 502, Times: 1})

	if wait := f.p.cycle(ctx); wait <= f.p.opts.Interval {
		t.Errorf("a cycle with a failed fetch waits %s, want a backoff longer than the interval %s", wait, f.p.opts.Interval)
	}
	got := f.applied()
	if len(got) > 2 {
		t.Fatalf("with a fetch failed applied %v", got)
	}
	// The progress stops before what was not applied: a restart now would still take it.
	for i, d := range logged {
		if got[strconv.Itoa(i+1)+"/Queued"] == 0 && f.p.after >= d.ID {
			t.Fatalf("progress %d passed delivery %d (job %d), not applied", f.p.after, d.ID, i+1)
		}
	}

	f.p.cycle(ctx)
	if got := f.applied(); got["1/Queued"] != 1 || got["2/Queued"] != 1 || got["3/Queued"] != 1 {
		t.Fatalf("the next cycle applied %v, want the rest once and nothing twice", got)
	}
	if f.p.after < logged[2].ID || f.p.failures != 0 {
		t.Errorf("progress %d (failures %d), want past every delivery", f.p.after, f.p.failures)
	}

	// The demand store refusing: the cycle stops, nothing is lost.
	f.log("queued", 4, 5)
	f.sink.fail(errBacklogFull)
	f.p.cycle(ctx)
	f.sink.fail(nil)
	f.p.cycle(ctx)
	if got := f.applied(); got["4/Queued"] != 1 || got["5/Queued"] != 1 {
		t.Errorf("after the store refused and recovered applied %v, want jobs 4 and 5 once", got)
	}

	// A payload GitHub no longer has (404) is passed over, or it would hold the pull back
	// (and cost a request a cycle) for as long as the log lists it.
	last := f.log("queued", 6, 7)[1]
	f.srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointAppHookDelivery, Status: 404, Times: 1})
	f.p.cycle(ctx)
	if got := f.applied(); got["6/Queued"]+got["7/Queued"] != 1 {
		t.Errorf("with one payload gone applied %v, want the other of jobs 6 and 7", got)
	}
	if f.p.after < last.ID {
		t.Errorf("progress %d stuck before the gone delivery (last %d)", f.p.after, last.ID)
	}
}

func TestPullStopsAtItsShareOfTheAppBudget(t *testing.T) {
	// An App allowed 20 requests an hour; the pull may spend half.
	f := newPullFixture(t, githubtest.Options{PrimaryLimit: 20}, PullOptions{Budget: 0.5, MaxAge: 2 * time.Hour})
	ctx := context.Background()
	var ids []int64
	for i := range 30 {
		ids = append(ids, int64(i+1))
	}
	f.log("queued", ids...)

	wait := f.p.cycle(ctx)
	used := f.srv.CallCountFor(githubtest.AppCredential(f.app.ID), githubtest.EndpointAppHookDeliveries) + f.srv.CallCountFor(githubtest.AppCredential(f.app.ID), githubtest.EndpointAppHookDelivery)
	if used != 10 {
		t.Errorf("the pull spent %d of the App's 20 requests, want exactly its half", used)
	}
	if wait < 50*time.Minute || wait > time.Hour+time.Second {
		t.Errorf("at its share the pull waits %s, want until GitHub's window resets (about 1 h)", wait)
	}
	applied := len(f.sink.got())
	if applied != 9 {
		t.Errorf("applied %d events with 10 requests, want 9 (one went to the list)", applied)
	}
	// Waiting, it asks GitHub nothing more, however often it is woken.
	f.p.cycle(ctx)
	if n := f.srv.CallCountFor(githubtest.AppCredential(f.app.ID), githubtest.EndpointAppHookDeliveries); n != 1 {
		t.Errorf("made %d list calls while at its share, want 1", n)
	}
	if f.saved(t) == "" {
		t.Error("the progress of the events applied before the budget ran out was not saved")
	}

	// GitHub's window resets: the pull goes on where it stopped. (A new window has a later
	// reset time; the fake's are in whole seconds, as GitHub's.)
	time.Sleep(1100 * time.Millisecond)
	f.srv.ClearRateLimits()
	f.p.now = func() time.Time { return time.Now().Add(61 * time.Minute) }
	f.p.cycle(ctx)
	if n := len(f.sink.got()); n <= applied {
		t.Errorf("after the reset applied %d events in all, want more than %d", n, applied)
	}
	seen := map[int64]int{}
	for _, ev := range f.sink.got() {
		seen[ev.JobID]++
		if seen[ev.JobID] > 1 {
			t.Fatalf("job %d applied twice", ev.JobID)
		}
	}
}

func TestPullWaitsOutARateLimitAndAnOutage(t *testing.T) {
	f := newPullFixture(t, githubtest.Options{}, PullOptions{})
	ctx := context.Background()
	f.log("queued", 1)
	f.srv.TriggerSecondary(githubtest.AppCredential(f.app.ID), 3*time.Minute)
	if wait := f.p.cycle(ctx); wait < 2*time.Minute {
		t.Errorf("under a secondary limit of 3m the pull waits %s, want GitHub's Retry-After", wait)
	}

	// GitHub down: every answer 503. Each failed cycle waits twice as long, up to 5 minutes.
	f = newPullFixture(t, githubtest.Options{}, PullOptions{})
	f.log("queued", 1)
	remove := f.srv.InjectFault(githubtest.Fault{Status: 503})
	var waits []time.Duration
	for range 8 {
		waits = append(waits, f.p.cycle(ctx))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] || waits[i] > pullMaxBackoff {
			t.Fatalf("waits during the outage %v, want them growing up to %s", waits, pullMaxBackoff)
		}
	}
	if waits[len(waits)-1] != pullMaxBackoff {
		t.Errorf("after 8 failed cycles the wait is %s, want %s", waits[len(waits)-1], pullMaxBackoff)
	}
	if n := len(f.sink.got()); n != 0 {
		t.Fatalf("applied %d events while GitHub was down", n)
	}
	remove()
	if wait := f.p.cycle(ctx); wait != f.p.opts.Interval || len(f.sink.got()) != 1 {
		t.Errorf("once GitHub is back: wait %s, %d events applied; want the interval and job 1", wait, len(f.sink.got()))
	}
}

func TestBudgetWait(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	reset := now.Add(20 * time.Minute)
	for _, tc := range []struct {
		name  string
		rl    github.AppRateLimit
		share float64
		want  time.Duration
	}{
		{"nothing reported yet", github.AppRateLimit{}, 0.5, 0},
		{"under the share", github.AppRateLimit{Limit: 5000, Used: 2499, Remaining: 2501, Reset: reset}, 0.5, 0},
		{"at the share", github.AppRateLimit{Limit: 5000, Used: 2500, Remaining: 2500, Reset: reset}, 0.5, 20 * time.Minute},
		{"spent by mints and others too", github.AppRateLimit{Limit: 5000, Used: 4000, Remaining: 1000, Reset: reset}, 0.5, 20 * time.Minute},
		{"the whole budget allowed, none left", github.AppRateLimit{Limit: 5000, Used: 5000, Remaining: 0, Reset: reset}, 1, 20 * time.Minute},
		{"the whole budget allowed, some left", github.AppRateLimit{Limit: 5000, Used: 4999, Remaining: 1, Reset: reset}, 1, 0},
		{"the window reset since", github.AppRateLimit{Limit: 5000, Used: 5000, Remaining: 0, Reset: now.Add(-time.Second)}, 0.5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := budgetWait(tc.rl, tc.share, now); got != tc.want {
				t.Errorf("budgetWait(%+v, %v) = %s, want %s", tc.rl, tc.share, got, tc.want)
			}
		})
	}
}

func TestPendingDeliveries(t *testing.T) {
	d := func(id int64, guid, event, action string, code int) github.HookDelivery {
		return github.HookDelivery{ID: id, GUID: guid, Event: event, Action: action, StatusCode: code}
	}
	list := []github.HookDelivery{ // newest first, as listed
		d(9, "c", "workflow_job", "completed", 200),
		d(8, "b", "workflow_job", "queued", 0), // a redelivery of b
		d(7, "x", "workflow_run", "requested", 0),
		d(6, "w", "workflow_job", "waiting", 0),
		d(5, "b", "workflow_job", "queued", 503),
		d(4, "a", "workflow_job", "queued", 0),
		d(3, "p", "ping", "", 0),
	}
	var got []string
	for _, p := range pendingDeliveries(list) {
		got = append(got, strconv.FormatInt(p.ID, 10)+p.GUID)
	}
	if strings.Join(got, " ") != "4a 5b 6w 9c" {
		t.Errorf("pending = %v, want one attempt per relevant event, oldest first: 4a 5b 6w 9c", got)
	}
	p := &puller{handled: newSeenSet(time.Hour, 10)}
	p.handled.add("a")
	if got := p.doneUpTo(list); got != 4 {
		t.Errorf("done up to %d with only a applied, want 4", got)
	}
	p.handled.add("b")
	if got := p.doneUpTo(list); got != 5 {
		t.Errorf("done up to %d with a and b applied, want 5 (w is not)", got)
	}
	p.handled.add("w")
	if got := p.doneUpTo(list); got != 8 {
		t.Errorf("done up to %d with a, b and w applied, want 8 (c is not)", got)
	}
}

func TestPullOptionsValidate(t *testing.T) {
	ref := types.NamespacedName{Namespace: "corral-system", Name: "app"}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"defaults", Options{Pull: PullOptions{CredentialsRefs: []types.NamespacedName{ref}}}, ""},
		{"no namespace", Options{Pull: PullOptions{CredentialsRefs: []types.NamespacedName{{Name: "app"}}}}, "must be NAMESPACE/NAME"},
		{"twice", Options{Pull: PullOptions{CredentialsRefs: []types.NamespacedName{ref, ref}}}, "named twice"},
		{"also recovered", Options{Pull: PullOptions{CredentialsRefs: []types.NamespacedName{ref}}, Recovery: RecoveryOptions{CredentialsRef: ref}}, "also the recovery's"},
		{"too often", Options{Pull: PullOptions{CredentialsRefs: []types.NamespacedName{ref}, Interval: 100 * time.Millisecond}}, "at least 1s"},
		{"budget over the limit", Options{Pull: PullOptions{CredentialsRefs: []types.NamespacedName{ref}, Budget: 1.5}}, "in (0, 1]"},
		{"negative budget", Options{Pull: PullOptions{CredentialsRefs: []types.NamespacedName{ref}, Budget: -0.1}}, "in (0, 1]"},
		{"older than completed jobs are kept", Options{CompletedTTL: time.Hour, Pull: PullOptions{CredentialsRefs: []types.NamespacedName{ref}, MaxAge: 2 * time.Hour}}, "exceeds the completed TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	var refs []types.NamespacedName
	f := nameListFlag{&refs}
	if err := f.Set("a/one, b/two"); err != nil || f.String() != "a/one,b/two" {
		t.Errorf("flag parsed %q (%v), want a/one,b/two", f.String(), err)
	}
	if err := f.Set("no-namespace"); err == nil {
		t.Error("a name without a namespace was accepted")
	}
	if n := pullStateName(strings.Repeat("s", 253)); len(n) > 253 || !strings.HasPrefix(n, "corral-pull-") {
		t.Errorf("state name of a long Secret name = %q", n)
	}
}
