package controller

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/runner"
)

// AnnotationBusy records on a runner pod what is known of its runner taking a job:
// BusyConfirmed once GitHub said it (a listing or lookup, or a deregistration refused as
// busy): runners are ephemeral, a busy one never becomes idle again; "claimed:<unix
// seconds>" when a webhook delivery said it and GitHub has not confirmed it yet; BusyRefuted
// when GitHub, asked about such a claim, said the runner is not busy: later claims are
// ignored (a deregistration still protects a runner GitHub calls busy). So a forged
// in_progress delivery cannot pin a runner busy for longer than BusyClaimTTL.
const AnnotationBusy = "corral.run/busy"

// Values of AnnotationBusy.
const (
	BusyConfirmed = "true"
	BusyRefuted   = "refuted"
	busyClaimed   = "claimed:"
)

// busyClaim is the value recording a webhook's claim at now.
func busyClaim(now time.Time) string { return busyClaimed + strconv.FormatInt(now.Unix(), 10) }

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

func (s runnerState) String() string {
	return [...]string{"pending", "idle", "busy", "finished", "deleting"}[s]
}

// runnerPod is a runner pod of the pool with what the controller derived from it.
type runnerPod struct {
	pod       *corev1.Pod
	state     runnerState
	runnerID  int64
	current   bool      // built from the pool's current template
	hasJIT    bool      // its JIT Secret exists
	busyMark  string    // the pod's AnnotationBusy
	claimedAt time.Time // when a webhook claimed the runner busy, unconfirmed (zero otherwise)
	exitCode  int32     // the runner container's exit code; -1 while it has not terminated
}

func (p runnerPod) name() string { return p.pod.Name }

// active reports whether the runner counts towards the pool's size.
func (p runnerPod) active() bool {
	return p.state == statePending || p.state == stateIdle || p.state == stateBusy
}

// finishedAt is when the runner container terminated, as the kubelet recorded it; now when
// it recorded no time.
func (p runnerPod) finishedAt(now time.Time) time.Time {
	for _, cs := range p.pod.Status.ContainerStatuses {
		if cs.Name == runner.RunnerContainerName && cs.State.Terminated != nil && !cs.State.Terminated.FinishedAt.IsZero() {
			return cs.State.Terminated.FinishedAt.Time
		}
	}
	return now
}

// age is how long the pod has existed at now.
func (p runnerPod) age(now time.Time) time.Duration { return now.Sub(p.pod.CreationTimestamp.Time) }

// observation is everything a reconcile decides from: the pool with its persisted history,
// its runner pods, its demand, the creations still in flight and, when the forge was asked
// this time, what it said. plan turns it into actions without any further I/O.
type observation struct {
	pool    *corralv1.RunnerPool
	now     time.Time
	prefix  string
	runners []runnerPod
	demand  Demand
	// audited is the pool's Audited condition (nil: audit is off).
	audited *metav1.Condition
	// inFlight names runners being created whose pods the cache does not show yet.
	inFlight map[string]bool
	// forge is what the forge said this reconcile; nil when it was not asked.
	forge *forgeView
	// processStart is when this operator process started: a pool last swept before it may
	// hold what an earlier process left behind.
	processStart time.Time
	// class is the pool's RunnerClass, the pool as the builders see it, and why it may not
	// create runners.
	class classView
}

// forgeView is a sweep's reading of the forge: the pool's registrations as listed, and a
// per-runner lookup of each pod the listing did not show (a paginated listing misses
// entries while runners come and go, so only a lookup can prove a registration is gone).
type forgeView struct {
	listed  map[string]forge.Runner
	lookups map[string]lookup
	// err is the error that cut the reading short; the view is then unusable.
	err error
	// swept: listed holds every registration of the pool (a sweep); else only lookups.
	swept bool
}

// seen is what the forge said of runner name this reconcile: its registration (nil when it
// was not asked or the reading failed), or that it is gone (a lookup answered 404).
func (o *observation) seen(name string) (*forge.Runner, bool) {
	v := o.forge
	if v == nil || v.err != nil {
		return nil, false
	}
	if reg, ok := v.listed[name]; ok {
		return &reg, false
	}
	if l, ok := v.lookups[name]; ok {
		return &l.runner, l.gone
	}
	return nil, false
}

// lookup is the answer to a per-runner read.
type lookup struct {
	runner forge.Runner
	gone   bool
}

// observe lists the pool's pods from the cache, finds out which have their JIT Secret, and
// reads its demand.
func (r *RunnerPoolReconciler) observe(ctx context.Context, pool *corralv1.RunnerPool, cv classView) (*observation, error) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(pool.Namespace), client.MatchingLabels{
		corralv1.LabelPool: pool.Name, corralv1.LabelComponent: corralv1.ComponentRunner}); err != nil {
		return nil, fmt.Errorf("listing runner pods: %w", err)
	}
	jit, err := r.jitSecrets(ctx, pool, pods.Items)
	if err != nil {
		return nil, err
	}
	o := &observation{pool: pool, prefix: github.RunnerNamePrefix(pool.Name, pool.UID), now: r.now(), processStart: r.started, class: cv}
	if r.DemandOf != nil {
		o.demand = r.DemandOf(pool, o.now)
	}
	r.expect.overlayMarks(pool.UID, pods.Items)
	o.runners = classify(cv.effective, pods.Items, o.demand.BusyRunners, jit)
	o.runners, o.inFlight = r.expect.observe(pool.UID, o.runners, o.now)
	return o, nil
}

// classify derives each pod's state. pool is the pool as the builders see it (its class
// applied), so a class change makes its runners outdated; busy names runners known to run
// a job (from webhook demand); jitSecrets names the JIT Secrets that exist. Pure.
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
			busyMark: pod.Annotations[AnnotationBusy],
			exitCode: exitCode(pod),
		}
		if at, ok := strings.CutPrefix(rp.busyMark, busyClaimed); ok {
			sec, _ := strconv.ParseInt(at, 10, 64)
			rp.claimedAt = time.Unix(sec, 0)
		}
		claimed := rp.busyMark == BusyConfirmed || !rp.claimedAt.IsZero() || (busy[pod.Name] && rp.busyMark != BusyRefuted)
		switch {
		case pod.DeletionTimestamp != nil:
			rp.state = stateDeleting
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			rp.state = stateFinished
		case claimed:
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

// exitCode is the runner container's exit code, or -1 when it did not terminate.
func exitCode(pod *corev1.Pod) int32 {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == runner.RunnerContainerName && cs.State.Terminated != nil {
			return cs.State.Terminated.ExitCode
		}
	}
	return -1
}

// readForge asks the forge what the plan needs from it: when a sweep is due, the pool's
// registrations and a lookup of every pod that looks idle but was not listed; and at any
// time a lookup of every runner a webhook claimed busy longer than BusyClaimTTL ago that
// GitHub has not confirmed. It is the only forge read before plan; its error (if any) is
// part of the view.
func (r *RunnerPoolReconciler) readForge(ctx context.Context, o *observation, f *forgeSession) {
	opts := r.opts()
	swept := sweepDue(o, opts)
	suspects := staleClaims(o, opts)
	if !swept && len(suspects) == 0 {
		return
	}
	v := &forgeView{listed: map[string]forge.Runner{}, lookups: map[string]lookup{}, swept: swept}
	o.forge = v
	var toLookUp []runnerPod
	if swept {
		list, err := f.runners(ctx, o.prefix)
		if err != nil {
			v.err = err
			return
		}
		for _, reg := range list {
			v.listed[reg.Name] = reg
		}
		toLookUp = needLookup(o, opts)
	}
	for _, rp := range suspects {
		if _, listed := v.listed[rp.name()]; !listed {
			toLookUp = append(toLookUp, rp)
		}
	}
	for _, rp := range toLookUp {
		reg, err := f.runner(ctx, rp.runnerID)
		switch forge.KindOf(err) {
		case "":
			v.lookups[rp.name()] = lookup{runner: reg}
		case forge.KindGone:
			v.lookups[rp.name()] = lookup{gone: true}
		default:
			v.err = err
			return
		}
	}
}

// staleClaims returns the runners a webhook claimed busy longer than BusyClaimTTL ago that
// GitHub has not confirmed busy: their claim is checked. Pure.
func staleClaims(o *observation, opts Options) []runnerPod {
	if !forgeReady(o.pool.Status.History, o.now) {
		return nil
	}
	var out []runnerPod
	for _, rp := range o.runners {
		if rp.state == stateBusy && !rp.claimedAt.IsZero() && rp.runnerID != 0 && o.now.Sub(rp.claimedAt) >= opts.BusyClaimTTL {
			out = append(out, rp)
		}
	}
	return out
}

// needLookup returns the pods a sweep must look up one by one: idle (or pending) runners old
// enough to be registered that the listing did not show. Pure.
func needLookup(o *observation, opts Options) []runnerPod {
	var out []runnerPod
	for _, rp := range o.runners {
		if (rp.state != stateIdle && rp.state != statePending) || rp.runnerID == 0 || rp.age(o.now) <= opts.OrphanGrace {
			continue
		}
		if _, listed := o.forge.listed[rp.name()]; !listed {
			out = append(out, rp)
		}
	}
	return out
}

// jitSecrets names the JIT Secrets of the pool's live pods that exist, without listing or
// watching Secrets. A pod this process created has its Secret by construction (a failed
// Secret creation deletes the pod, or marks it incomplete when that fails too). Only a pod
// created before this process started may lack it (a crash between the two creations): its
// Secret's metadata is read once, and the answer remembered for the pod's life.
func (r *RunnerPoolReconciler) jitSecrets(ctx context.Context, pool *corralv1.RunnerPool, pods []corev1.Pod) (map[string]bool, error) {
	out := make(map[string]bool, len(pods))
	for i := range pods {
		pod := &pods[i]
		name := runner.JITSecretName(pod.Name)
		switch {
		case r.expect.incomplete(pool.UID, pod.Name):
			continue
		case pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed,
			pod.CreationTimestamp.Time.After(r.started), r.expect.verified(pod.UID):
			out[name] = true
			continue
		}
		secret := &metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: name}, secret)
		switch {
		case err == nil:
			out[name] = true
			r.expect.verify(pod.UID)
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading JIT Secret %s: %w", name, err)
		}
	}
	return out, nil
}
