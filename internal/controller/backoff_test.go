package controller

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
)

func TestBackoffs(t *testing.T) {
	for _, tc := range []struct {
		n                 int32
		runner, forgeWait time.Duration
	}{
		{0, 0, 0},
		{1, 10 * time.Second, time.Second},
		{2, 20 * time.Second, 2 * time.Second},
		{4, 80 * time.Second, 8 * time.Second},
		{7, 10 * time.Minute, 64 * time.Second},
		{9, 10 * time.Minute, 256 * time.Second},
		{10, 10 * time.Minute, 5 * time.Minute},
		{1000, 10 * time.Minute, 5 * time.Minute},
	} {
		if got := failureBackoff(tc.n); got != tc.runner {
			t.Errorf("failureBackoff(%d) = %s, want %s", tc.n, got, tc.runner)
		}
		if got := ForgeBackoff(tc.n); got != tc.forgeWait {
			t.Errorf("ForgeBackoff(%d) = %s, want %s", tc.n, got, tc.forgeWait)
		}
	}
}

func TestForgeAttemptsWithin(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Second: 2, 2 * time.Second: 2, 3 * time.Second: 3, 20 * time.Second: 5, 2 * time.Minute: 7, time.Hour: 20} {
		if got := ForgeAttemptsWithin(d); got != want {
			t.Errorf("ForgeAttemptsWithin(%s) = %d, want %d", d, got, want)
		}
	}
}

// statusErr is a forge error carrying an HTTP status, as the GitHub client's are.
type statusErr struct {
	code int
	msg  string
}

func (e statusErr) Error() string   { return e.msg }
func (e statusErr) StatusCode() int { return e.code }

func transient(code int, runner string) error {
	return fmt.Errorf("%w: %w", forge.ErrTransient, statusErr{code, "registering runner " + runner + ": 503 Service Unavailable"})
}

// TestNextHistory covers what a reconcile's outcome adds to the pool's history.
func TestNextHistory(t *testing.T) {
	pool := testPool()
	failed := runnerFixture(pool, "aaaaa", 1, exited(1))
	fine := runnerFixture(pool, "bbbbb", 2, exited(0))
	o := observed(pool, Demand{}, failed, fine)
	failedAt := t0.Add(-3 * time.Second)
	failure := removal{rp: o.runners[0], deregister: true, failure: "runner exited with code 1", failedAt: failedAt}
	success := removal{rp: o.runners[1]}
	before := corralv1.PoolHistory{RunnerFailures: 2, LastRunnerFailureTime: timeRef(t0.Add(-time.Minute)), ForgeFailures: 3,
		ForgeRetryTime: timeRef(t0.Add(-time.Second))}
	for _, tc := range []struct {
		name         string
		out          outcome
		wantFailures int32
		wantLast     *time.Time
		wantForge    int32
		wantRetry    *time.Time
	}{
		{"a failure adds one, at the time it failed", outcome{removed: []removal{failure}}, 3, &failedAt, 3, ptrTime(t0.Add(-time.Second))},
		{"a success resets", outcome{removed: []removal{success}}, 0, nil, 3, ptrTime(t0.Add(-time.Second))},
		{"a failure beats a success in the same reconcile", outcome{removed: []removal{success, failure}}, 3, &failedAt, 3, ptrTime(t0.Add(-time.Second))},
		{"an admission refusal counts", outcome{admission: condition("ScalingBlocked", corralv1.ReasonQuotaExceeded, "exceeded quota")}, 3, &t0, 3, ptrTime(t0.Add(-time.Second))},
		{"a forge answer resets the forge backoff", outcome{answered: true}, 2, ptrTime(t0.Add(-time.Minute)), 0, nil},
		{"a transient failure backs off further", outcome{forgeErr: transient(503, "x")}, 2, ptrTime(t0.Add(-time.Minute)), 4, ptrTime(t0.Add(8 * time.Second))},
		{"a failure among answers retries soon: GitHub is up but flaky", outcome{forgeErr: transient(502, "x"), answered: true}, 2, ptrTime(t0.Add(-time.Minute)), 1, ptrTime(t0.Add(time.Second))},
		{"a rate limit waits exactly its time", outcome{forgeErr: &forge.RateLimitError{Until: t0.Add(42 * time.Second), Err: errors.New("limit")}},
			2, ptrTime(t0.Add(-time.Minute)), 3, ptrTime(t0.Add(42 * time.Second))},
		{"the pacer's wait is no failure: the history stays", outcome{forgeErr: paced(750 * time.Millisecond)},
			2, ptrTime(t0.Add(-time.Minute)), 3, ptrTime(t0.Add(-time.Second))},
		{"the pacer's wait after answers: the answers reset the backoff", outcome{forgeErr: paced(750 * time.Millisecond), answered: true},
			2, ptrTime(t0.Add(-time.Minute)), 0, nil},
		{"a refused credential leaves the backoff alone", outcome{forgeErr: forge.ErrUnauthorized}, 2, ptrTime(t0.Add(-time.Minute)), 3, ptrTime(t0.Add(-time.Second))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := nextHistory(o, plan{history: before}, tc.out)
			if h.RunnerFailures != tc.wantFailures || !sameTime(h.LastRunnerFailureTime, tc.wantLast) {
				t.Errorf("runner failures %d at %v; want %d at %v", h.RunnerFailures, h.LastRunnerFailureTime, tc.wantFailures, tc.wantLast)
			}
			if h.ForgeFailures != tc.wantForge || !sameTime(h.ForgeRetryTime, tc.wantRetry) {
				t.Errorf("forge failures %d, retry %v; want %d, %v", h.ForgeFailures, h.ForgeRetryTime, tc.wantForge, tc.wantRetry)
			}
		})
	}
	if h := nextHistory(o, plan{history: before}, outcome{removed: []removal{{rp: o.runners[0], failure: "exit 7", failedAt: t0}}}); h.DeprecatedTemplateHash != "" {
		t.Errorf("exit code 1 blocks the template: %q", h.DeprecatedTemplateHash)
	}
	seven := observed(pool, Demand{}, runnerFixture(pool, "ccccc", 3, exited(ExitCodeVersionDeprecated)))
	h := nextHistory(seven, plan{}, outcome{removed: []removal{{rp: seven.runners[0], failure: "exit 7", failedAt: t0}}})
	if h.DeprecatedTemplateHash == "" || h.DeprecatedTemplateHash != seven.runners[0].pod.Annotations[corralv1.AnnotationTemplateHash] {
		t.Errorf("exit code 7 must block the template, got %q", h.DeprecatedTemplateHash)
	}
}

// TestForgeConditionStable: repeated failures with the same cause give the same condition,
// whatever runner the failing call was about; fatal kinds stall with their reason.
func TestForgeConditionStable(t *testing.T) {
	h := corralv1.PoolHistory{ForgeFailures: 3, ForgeRetryTime: timeRef(t0.Add(4 * time.Second))}
	a, _ := forgeCondition(transient(503, "ci-0dd33b-aaaaa"), h)
	h.ForgeFailures, h.ForgeRetryTime = 4, timeRef(t0.Add(8*time.Second))
	b, _ := forgeCondition(transient(503, "ci-0dd33b-zzzzz"), h)
	if a == nil || b == nil || a.Message != b.Message || a.Reason != corralv1.ReasonGitHubUnavailable {
		t.Fatalf("messages differ across attempts: %+v / %+v", a, b)
	}
	if !strings.Contains(a.Message, "HTTP 503") || strings.Contains(a.Message, "aaaaa") {
		t.Errorf("message %q: want GitHub's answer, no runner name", a.Message)
	}
	if c, _ := forgeCondition(errors.Join(forge.ErrTransient, errors.New("dial tcp: i/o timeout")), h); !strings.Contains(c.Message, "no answer") {
		t.Errorf("message %q: want 'no answer' for a network error", c.Message)
	}
	for kind, want := range map[error]string{
		forge.ErrUnauthorized:       corralv1.ReasonCredentialsInvalid,
		forge.ErrCredentialsInvalid: corralv1.ReasonCredentialsInvalid,
		forge.ErrForbidden:          corralv1.ReasonPermissionDenied,
		forge.ErrMisconfigured:      corralv1.ReasonConfigInvalid,
	} {
		blocked, stalled := forgeCondition(fmt.Errorf("%w: details", kind), h)
		if blocked != nil || stalled == nil || stalled.Reason != want || stalled.Type != corralv1.ConditionStalled {
			t.Errorf("%v: blocked %+v, stalled %+v; want Stalled/%s", kind, blocked, stalled, want)
		}
	}
	rl, _ := forgeCondition(&forge.RateLimitError{Until: t0.Add(time.Minute), Err: errors.New("x")}, h)
	if rl == nil || rl.Reason != corralv1.ReasonRateLimited {
		t.Errorf("rate limit: %+v", rl)
	}
}

// paced is the pacer's answer: wait d for a free slot under GitHub's secondary limit.
func paced(d time.Duration) error {
	return &forge.RateLimitError{Until: t0.Add(d), Paced: true, Err: errors.New("pacing under GitHub's secondary limit")}
}

func ptrTime(t time.Time) *time.Time { return &t }

func sameTime(got *metav1.Time, want *time.Time) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return got.Time.Equal(*want)
}

// TestStuckMessageNamesTheTunPlugin: a runner no node can take for want of corral.run/tun
// says what to install (or set), any other unschedulable runner just what the scheduler said.
func TestStuckMessageNamesTheTunPlugin(t *testing.T) {
	pool := testPool()
	for _, tc := range []struct {
		scheduler, want, not string
	}{
		{"0/3 nodes are available: 3 Insufficient corral.run/tun. preemption: 0/3 nodes are available", "tunDevicePlugin.enabled", ""},
		{"0/3 nodes are available: 3 Insufficient cpu.", "3 Insufficient cpu", "tunDevicePlugin"},
	} {
		pod := runnerFixture(pool, "aaaaa", 7, unschedulable)
		pod.Status.Conditions[0].Message = tc.scheduler
		rp := &runnerPod{pod: &pod}
		msg := stuckMessage(rp, Options{PendingTimeout: 10 * time.Minute})
		if !strings.Contains(msg, tc.want) || (tc.not != "" && strings.Contains(msg, tc.not)) {
			t.Errorf("scheduler said %q: message %q, want it to contain %q and not %q", tc.scheduler, msg, tc.want, tc.not)
		}
	}
}
