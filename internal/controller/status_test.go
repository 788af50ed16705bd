package controller

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// TestCountsOnly: which status changes may wait for the status interval. Everything a user
// or the next reconcile acts on is written at once.
func TestCountsOnly(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC))
	ready := func(status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: corralv1.ConditionReady, Status: status, Reason: reason, Message: msg, LastTransitionTime: t0}
	}
	base := func() *corralv1.RunnerPoolStatus {
		st := &corralv1.RunnerPoolStatus{ObservedGeneration: 3, Runners: 4, Idle: 2, Busy: 2}
		meta.SetStatusCondition(&st.Conditions, ready(metav1.ConditionTrue, corralv1.ReasonReconciled, "4 runners (2 idle, 2 busy)"))
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: corralv1.ConditionScalingBlocked, Status: metav1.ConditionFalse, Reason: corralv1.ReasonReconciled, LastTransitionTime: t0})
		return st
	}
	for _, tc := range []struct {
		name   string
		change func(st *corralv1.RunnerPoolStatus)
		want   bool
	}{
		{"counts and the Ready message", func(st *corralv1.RunnerPoolStatus) {
			st.Runners, st.Idle, st.Busy, st.Queued = 5, 1, 4, 2
			meta.SetStatusCondition(&st.Conditions, ready(metav1.ConditionTrue, corralv1.ReasonReconciled, "5 runners (1 idle, 4 busy)"))
		}, true},
		{"Ready flips to Scaling", func(st *corralv1.RunnerPoolStatus) {
			st.Pending = 1
			meta.SetStatusCondition(&st.Conditions, ready(metav1.ConditionFalse, corralv1.ReasonScaling, "4 of 5 runners up, 1 pending"))
		}, true},
		{"the webhook's demand", func(st *corralv1.RunnerPoolStatus) { st.Demand = &corralv1.PoolDemand{Queued: "1+1"} }, true},
		{"a new generation observed", func(st *corralv1.RunnerPoolStatus) { st.ObservedGeneration = 4 }, false},
		{"history (failures, backoff)", func(st *corralv1.RunnerPoolStatus) { st.History.RunnerFailures = 1 }, false},
		{"scaling blocked", func(st *corralv1.RunnerPoolStatus) {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: corralv1.ConditionScalingBlocked, Status: metav1.ConditionTrue, Reason: corralv1.ReasonQuotaExceeded, Message: "exceeded quota"})
		}, false},
		{"Ready false for a reason to act on", func(st *corralv1.RunnerPoolStatus) {
			meta.SetStatusCondition(&st.Conditions, ready(metav1.ConditionFalse, corralv1.ReasonQuotaExceeded, "exceeded quota"))
		}, false},
		{"paused", func(st *corralv1.RunnerPoolStatus) {
			st.Runners, st.Idle, st.Busy = 0, 0, 0
			meta.SetStatusCondition(&st.Conditions, ready(metav1.ConditionTrue, corralv1.ReasonPaused, "maxRunners is 0: the pool is paused"))
		}, false},
		{"first status (no Ready yet)", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev, next := base(), base()
			if tc.change == nil {
				prev = &corralv1.RunnerPoolStatus{}
			} else {
				tc.change(next)
			}
			if got := countsOnly(prev, next); got != tc.want {
				t.Errorf("countsOnly = %v, want %v", got, tc.want)
			}
			// Leaving a held-back state is as urgent as entering it.
			if tc.change != nil {
				if got := countsOnly(next, prev); got != tc.want {
					t.Errorf("countsOnly of the way back = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestPacedStatus: while Corral's pacer holds registrations, every reconcile creates what
// fits and is paced for the rest, each time with a new wait. None of that is a failure to
// persist: the pool's status changes only in its counts (written once per interval), and
// the Ready condition says the pool is paced.
func TestPacedStatus(t *testing.T) {
	pool := testPool()
	pool.Spec.MinIdle, pool.Spec.MaxRunners = 0, 100
	prev := &pool.Status
	for i, wait := range []time.Duration{750 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond} {
		var pods []corev1.Pod
		for k := range i + 1 {
			pods = append(pods, runnerFixture(pool, fmt.Sprintf("r%04d", k), int64(k+1), ageOf(time.Second), pendingPod))
		}
		o := observed(pool, Demand{Queued: 50}, pods...)
		o.pool.Status = *prev.DeepCopy()
		p := planPool(o, testOptions)
		next := computeStatus(o, p, outcome{busy: map[string]bool{}, created: 1, answered: true, forgeErr: paced(wait)})
		if !reflect.DeepEqual(next.History, corralv1.PoolHistory{}) {
			t.Errorf("reconcile %d: history %+v; a paced wait is no failure", i, next.History)
		}
		if c := meta.FindStatusCondition(next.Conditions, corralv1.ConditionScalingBlocked); c == nil || c.Status != metav1.ConditionFalse {
			t.Errorf("reconcile %d: ScalingBlocked %+v; want False (pacing slows, it does not block)", i, c)
		}
		ready := meta.FindStatusCondition(next.Conditions, corralv1.ConditionReady)
		if ready == nil || ready.Reason != corralv1.ReasonScaling || !strings.Contains(ready.Message, "paced") {
			t.Errorf("reconcile %d: Ready %+v; want Scaling, saying the registrations are paced", i, ready)
		}
		if i > 0 && !countsOnly(prev, next) {
			t.Errorf("reconcile %d: a paced reconcile changed more than the counts:\n%+v\n%+v", i, prev, next)
		}
		prev = next
	}
}
