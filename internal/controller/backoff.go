package controller

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/runner"
)

// failureBackoff is the wait after n consecutive runner failures: 10 s doubling, at most
// 10 minutes.
func failureBackoff(n int32) time.Duration {
	return doubling(n, 10*time.Second, 10*time.Minute)
}

// ForgeBackoff is the wait after n consecutive failed attempts to use the forge: 1 s
// doubling, at most 5 minutes. A two-minute outage costs a pool 8 attempts.
func ForgeBackoff(n int32) time.Duration {
	return doubling(n, time.Second, 5*time.Minute)
}

// ForgeAttemptsWithin is the most attempts a pool makes to use a failing forge within d:
// the first, then one after each backoff (1 s, 2 s, 4 s, ...). A two-minute outage gives 7.
// Each attempt but the first sends at most one request (the first may have a creation
// batch in flight); the chaos suite bounds requests and status writes with it.
func ForgeAttemptsWithin(d time.Duration) int {
	n, elapsed := 1, time.Duration(0)
	for {
		next := elapsed + ForgeBackoff(int32(n))
		if next > d {
			return n
		}
		elapsed, n = next, n+1
	}
}

func doubling(n int32, base, ceiling time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	d := base
	for i := int32(1); i < n && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// withFailures is h with n more runner failures, the last at `at`, described by msg.
func withFailures(h corralv1.PoolHistory, n int32, msg string, at time.Time) corralv1.PoolHistory {
	if n == 0 {
		return h
	}
	if h.LastRunnerFailureTime != nil {
		at = latest(at, h.LastRunnerFailureTime.Time)
	}
	t := metav1.NewTime(at)
	h.RunnerFailures += n
	h.LastRunnerFailureTime = &t
	h.LastRunnerFailure = truncate(msg, 1024)
	return h
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// runnerBackoffUntil is when runner creation may resume after the recorded failures, and
// whether that is still ahead of now.
func runnerBackoffUntil(h corralv1.PoolHistory, now time.Time) (time.Time, bool) {
	if h.RunnerFailures == 0 || h.LastRunnerFailureTime == nil {
		return time.Time{}, false
	}
	until := h.LastRunnerFailureTime.Add(failureBackoff(h.RunnerFailures))
	return until, now.Before(until)
}

// nextHistory adds what act did to the history the plan left: runner failures and
// successes, the forge's failures or recovery.
func nextHistory(o *observation, p plan, out outcome) corralv1.PoolHistory {
	h := *p.history.DeepCopy()
	var successes, failures int32
	last, at := "", time.Time{}
	for _, rm := range out.removed {
		switch {
		case rm.failure != "":
			failures++
			last, at = rm.failure, latest(at, rm.failedAt)
			if rm.rp.exitCode == ExitCodeVersionDeprecated {
				h.DeprecatedTemplateHash = rm.rp.pod.Annotations[corralv1.AnnotationTemplateHash]
			}
		case rm.rp.state == stateFinished && rm.rp.exitCode == 0:
			successes++
		}
	}
	if out.admission != nil {
		failures++
		last, at = "the API server refused a runner pod: "+out.admission.Message, o.now
	}
	h = withFailures(h, failures, last, at)
	if failures == 0 && successes > 0 {
		h.RunnerFailures, h.LastRunnerFailureTime, h.LastRunnerFailure = 0, nil, ""
	}
	for _, name := range out.leftBehind {
		if len(h.OrphanCandidates) < corralv1.MaxOrphanCandidates {
			h.OrphanCandidates = append(h.OrphanCandidates, corralv1.OrphanCandidate{Name: name, FirstSeen: metav1.NewTime(o.now)})
		}
	}
	var rl *forge.RateLimitError
	switch kind := forge.KindOf(out.forgeErr); {
	case kind == "" || isPaced(out.forgeErr):
		// The pacer's wait is no failure: it is not persisted (each reconcile would write a
		// new wait) and the reconcile comes back when the slot frees (finish).
		if out.answered {
			h.ForgeFailures, h.ForgeRetryTime = 0, nil
		}
	case errors.As(out.forgeErr, &rl):
		until := metav1.NewTime(rl.Until)
		h.ForgeRetryTime = &until
	case kind == forge.KindTransient && out.answered:
		// GitHub answered other calls of this reconcile: it is up but flaky, so the next
		// attempt comes soon; the backoff grows only while nothing gets through.
		h.ForgeFailures = 1
		until := metav1.NewTime(o.now.Add(ForgeBackoff(1)))
		h.ForgeRetryTime = &until
	case kind == forge.KindTransient:
		h.ForgeFailures++
		until := metav1.NewTime(o.now.Add(ForgeBackoff(h.ForgeFailures)))
		h.ForgeRetryTime = &until
	}
	return h
}

// isPaced reports whether err is the pacer holding a registration for a free slot under
// the forge's limit: a wait, not a failure.
func isPaced(err error) bool {
	var rl *forge.RateLimitError
	return errors.As(err, &rl) && rl.Paced
}

// pacedUntil is when the pacer lets a held registration go (zero when err is no pacing).
func pacedUntil(err error) time.Time {
	var rl *forge.RateLimitError
	if errors.As(err, &rl) && rl.Paced {
		return rl.Until
	}
	return time.Time{}
}

// condition builds a True condition.
func condition(t, reason, message string) *metav1.Condition {
	return &metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: message}
}

// carried returns the pool's current condition of type t when it is True with one of
// reasons: the persisted statement of why the pool waits, kept while it still waits.
func carried(pool *corralv1.RunnerPool, t string, reasons ...string) *metav1.Condition {
	c := meta.FindStatusCondition(pool.Status.Conditions, t)
	if c == nil || c.Status != metav1.ConditionTrue {
		return nil
	}
	for _, r := range reasons {
		if c.Reason == r {
			out := c.DeepCopy()
			return out
		}
	}
	return nil
}

// waitingForForge is the ScalingBlocked condition while the forge backs off: the one the
// failure wrote, or one naming the retry time.
func waitingForForge(pool *corralv1.RunnerPool) *metav1.Condition {
	if c := carried(pool, corralv1.ConditionScalingBlocked, corralv1.ReasonRateLimited, corralv1.ReasonGitHubUnavailable); c != nil {
		return c
	}
	return condition(corralv1.ConditionScalingBlocked, corralv1.ReasonGitHubUnavailable,
		"calls to GitHub back off exponentially (status.history.forgeRetryTime)")
}

// forgeCondition says why the forge failed this reconcile. Its message names neither a
// runner nor a time, so repeated attempts with the same cause write the same words (the
// retry time is in the history).
func forgeCondition(err error, h corralv1.PoolHistory) (*metav1.Condition, *metav1.Condition) {
	kind := forge.KindOf(err)
	switch {
	case kind == "" || isPaced(err):
		return nil, nil // pacing slows the pool, it does not block it (readyCondition says so)
	}
	switch kind {
	case forge.KindRateLimited:
		return condition(corralv1.ConditionScalingBlocked, corralv1.ReasonRateLimited,
			fmt.Sprintf("GitHub rate limit reached; calls resume at %s", h.ForgeRetryTime.UTC().Format("15:04:05Z"))), nil
	case forge.KindTransient, forge.KindGone, forge.KindBusy:
		return condition(corralv1.ConditionScalingBlocked, corralv1.ReasonGitHubUnavailable,
			fmt.Sprintf("GitHub is failing (%s); calls back off exponentially (status.history.forgeRetryTime)", answerOf(err))), nil
	}
	reason := corralv1.ReasonConfigInvalid
	switch kind {
	case forge.KindUnauthorized, forge.KindCredentials:
		reason = corralv1.ReasonCredentialsInvalid
	case forge.KindForbidden:
		reason = corralv1.ReasonPermissionDenied
	}
	return nil, condition(corralv1.ConditionStalled, reason, firstLine(err.Error()))
}

// answerOf describes what the forge answered: its HTTP status when it gave one.
func answerOf(err error) string {
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) && sc.StatusCode() != 0 {
		return fmt.Sprintf("HTTP %d", sc.StatusCode())
	}
	return "no answer: network error or timeout"
}

// exitMessage says how a runner failed.
func exitMessage(rp *runnerPod) string {
	if rp.exitCode == ExitCodeVersionDeprecated {
		return fmt.Sprintf("runner %s exited with code 7: GitHub no longer accepts the runner version of its image", rp.name())
	}
	return fmt.Sprintf("runner %s exited with code %d without finishing a job", rp.name(), rp.exitCode)
}

// stuckReason is why a pod stayed pending: Unschedulable when the scheduler could not place
// it, else RunnerFailures (image pull errors, a crashing init container).
func stuckReason(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return corralv1.ReasonUnschedulable
		}
	}
	return corralv1.ReasonRunnerFailures
}

// stuckMessage says that a runner stayed pending, and when the scheduler found no node
// offering the tun device plugin's resource, what to do about it.
func stuckMessage(rp *runnerPod, opts Options) string {
	msg := fmt.Sprintf("runner %s was still pending after %s", rp.name(), opts.PendingTimeout)
	for _, c := range rp.pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
			msg += ": " + firstLine(c.Message)
			if strings.Contains(c.Message, "Insufficient "+string(runner.TunResource)) {
				msg += fmt.Sprintf(" (no node has a free %s: run Corral's tun device plugin on the pool's nodes, the chart's tunDevicePlugin.enabled, "+
					"or set sandbox.tunDevice: HostPath; docs/sandbox.md)", runner.TunResource)
			}
		}
	}
	return msg
}
