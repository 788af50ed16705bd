package controller

import (
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
)

// AnnotationBusy marks a runner pod whose runner took a job. Runners are ephemeral: once busy,
// a runner never becomes idle again, so the mark is never removed.
const AnnotationBusy = "corral.run/busy"

// ExitCodeVersionDeprecated is the runner's exit code when GitHub no longer accepts its
// version (with ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1).
const ExitCodeVersionDeprecated = 7

// runnerState is where a runner pod is in its life, as the controller sees it.
type runnerState int

const (
	statePending  runnerState = iota // created, not yet running
	stateIdle                        // running, waiting for a job
	stateBusy                        // running a job
	stateFinished                    // the pod terminated
	stateDeleting                    // the pod is being deleted
)

// runnerPod is a runner pod of the pool with what the controller derived from it.
type runnerPod struct {
	pod      *corev1.Pod
	state    runnerState
	runnerID int64
	current  bool // built from the pool's current template
	hasJIT   bool // its JIT Secret exists
}

func (p runnerPod) name() string { return p.pod.Name }

// active reports whether the runner counts towards the pool's size.
func (p runnerPod) active() bool {
	return p.state == statePending || p.state == stateIdle || p.state == stateBusy
}

// classify derives each pod's state. busy names runners known to run a job (from webhook
// demand); jitSecrets names the JIT Secrets that exist.
func classify(pool *corralv1.RunnerPool, pods []corev1.Pod, busy, jitSecrets map[string]bool) []runnerPod {
	hash := runner.TemplateHash(pool)
	out := make([]runnerPod, 0, len(pods))
	for i := range pods {
		pod := &pods[i]
		if !metav1.IsControlledBy(pod, pool) {
			continue // anyone can copy a label; only the pool's own pods are its runners
		}
		id, _ := strconv.ParseInt(pod.Annotations[corralv1.AnnotationRunnerID], 10, 64)
		rp := runnerPod{
			pod:      pod,
			runnerID: id,
			current:  pod.Annotations[corralv1.AnnotationTemplateHash] == hash,
			hasJIT:   jitSecrets[runner.JITSecretName(pod.Name)],
		}
		isBusy := pod.Annotations[AnnotationBusy] == "true" || busy[pod.Name]
		switch {
		case pod.DeletionTimestamp != nil:
			rp.state = stateDeleting
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			rp.state = stateFinished
		case isBusy:
			rp.state = stateBusy
		case pod.Status.Phase == corev1.PodRunning:
			rp.state = stateIdle
		default:
			rp.state = statePending
		}
		out = append(out, rp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pod.Name < out[j].pod.Name })
	return out
}

// counts are the pool's runners by state.
type counts struct {
	pending, idle, busy int32
}

func (c counts) active() int32 { return c.pending + c.idle + c.busy }

func countRunners(runners []runnerPod) counts {
	var c counts
	for _, r := range runners {
		switch r.state {
		case statePending:
			c.pending++
		case stateIdle:
			c.idle++
		case stateBusy:
			c.busy++
		}
	}
	return c
}

// desiredRunners is busy + idle wanted (minIdle + queued jobs not yet taken), capped at
// maxRunners.
func desiredRunners(pool *corralv1.RunnerPool, busy, queued int32) int32 {
	want := busy + pool.Spec.MinIdle + queued
	return min(want, pool.Spec.MaxRunners)
}

// scaleDownVictims picks the runners to remove: outdated idle or pending runners always
// (they are replaced), then as many more idle or pending ones as exceed desired. Pending
// runners go first (they have not come online), then the youngest. Busy runners are never
// picked.
func scaleDownVictims(runners []runnerPod, desired int32) []runnerPod {
	var removable []runnerPod
	active := int32(0)
	for _, r := range runners {
		if r.active() {
			active++
		}
		if r.state == statePending || r.state == stateIdle {
			removable = append(removable, r)
		}
	}
	sort.SliceStable(removable, func(i, j int) bool {
		a, b := removable[i], removable[j]
		if a.current != b.current {
			return !a.current
		}
		if a.state != b.state {
			return a.state == statePending
		}
		return a.pod.CreationTimestamp.After(b.pod.CreationTimestamp.Time)
	})
	var victims []runnerPod
	excess := active - desired
	for _, r := range removable {
		if !r.current || excess > 0 {
			victims = append(victims, r)
			excess--
		}
	}
	return victims
}

// exitCode is the runner container's exit code, or -1 when it did not terminate.
func exitCode(pod *corev1.Pod) int32 {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == runner.RunnerContainerName && cs.State.Terminated != nil {
			return cs.State.Terminated.ExitCode
		}
	}
	return -1
}

// stuckSince says whether a pending pod has been pending longer than timeout at now, and the
// reason to report (Unschedulable when the scheduler could not place it).
func stuckPending(pod *corev1.Pod, now time.Time, timeout time.Duration) (bool, string) {
	if now.Sub(pod.CreationTimestamp.Time) < timeout {
		return false, ""
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return true, corralv1.ReasonUnschedulable
		}
	}
	return true, corralv1.ReasonRunnerFailures
}
