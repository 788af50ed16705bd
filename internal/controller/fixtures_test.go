package controller

import (
	"context"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

// t0 is the plan tests' "now".
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// testOptions are the plan tests' options.
var testOptions = Options{
	SweepInterval: 3 * time.Minute, OrphanGrace: time.Minute, PendingTimeout: 10 * time.Minute,
	DrainTimeout: 10 * time.Minute, BusyRecheck: 30 * time.Second,
}.withDefaults()

// podMod changes a runner pod fixture.
type podMod func(*corev1.Pod)

// noJITAnnotation marks a fixture pod whose JIT Secret does not exist.
const noJITAnnotation = "test/no-jit"

// runnerFixture is a running, registered runner pod of pool named <prefix><suffix>, created
// 10 minutes before t0, then changed by mods.
func runnerFixture(pool *corralv1.RunnerPool, suffix string, id int64, mods ...podMod) corev1.Pod {
	name := github.RunnerNamePrefix(pool.Name, pool.UID) + suffix
	pod := runner.BuildPod(pool, name, runner.JITSecretName(name))
	pod.Annotations[corralv1.AnnotationRunnerID] = strconv.FormatInt(id, 10)
	pod.CreationTimestamp = metav1.NewTime(t0.Add(-10 * time.Minute))
	pod.Status.Phase = corev1.PodRunning
	for _, m := range mods {
		m(pod)
	}
	return *pod
}

func pendingPod(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }

func ageOf(d time.Duration) podMod {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(-d)) }
}

func exited(code int32) podMod {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodSucceeded
		if code != 0 {
			p.Status.Phase = corev1.PodFailed
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: runner.RunnerContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}}
	}
}

func deletingSince(d time.Duration) podMod {
	return func(p *corev1.Pod) { at := metav1.NewTime(t0.Add(-d)); p.DeletionTimestamp = &at }
}

func busyMarked(p *corev1.Pod) { p.Annotations[AnnotationBusy] = "true" }

func outdated(p *corev1.Pod) { p.Annotations[corralv1.AnnotationTemplateHash] = "old" }

func noJIT(p *corev1.Pod) { p.Annotations[noJITAnnotation] = "true" }

func unschedulable(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/3 nodes are available: 3 node(s) didn't match node selector."}}
}

// testPool is a pool with minIdle 1 and maxRunners 10, then changed by mods.
func testPool(mods ...gen.PoolModifier) *corralv1.RunnerPool {
	p := gen.RunnerPool("ci", mods...)
	p.CreationTimestamp = metav1.NewTime(t0.Add(-time.Minute))
	return p
}

// observed builds the observation plan sees of pool with pods at t0.
func observed(pool *corralv1.RunnerPool, demand Demand, pods ...corev1.Pod) *observation {
	jit := map[string]bool{}
	for _, p := range pods {
		if p.Annotations[noJITAnnotation] == "" {
			jit[runner.JITSecretName(p.Name)] = true
		}
	}
	return &observation{
		pool: pool, now: t0, prefix: github.RunnerNamePrefix(pool.Name, pool.UID),
		runners: classify(pool, pods, demand.BusyRunners, jit), demand: demand,
		class: classView{effective: pool},
	}
}

// withView adds a sweep's reading: listed registrations and per-runner lookups.
func (o *observation) withView(listed []forge.Runner, lookups map[string]lookup) *observation {
	v := &forgeView{listed: map[string]forge.Runner{}, lookups: lookups, swept: listed != nil}
	for _, r := range listed {
		v.listed[r.Name] = r
	}
	if v.lookups == nil {
		v.lookups = map[string]lookup{}
	}
	o.forge = v
	return o
}

// names of the removals, sorted.
func removedNames(p plan) []string {
	var out []string
	for _, rm := range p.removals {
		out = append(out, rm.rp.name())
	}
	sort.Strings(out)
	return out
}

func runnerName(pool *corralv1.RunnerPool, suffix string) string {
	return github.RunnerNamePrefix(pool.Name, pool.UID) + suffix
}

func timeRef(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

// fakeForge is a function-field Forge: each test sets the calls it expects; an unset one
// fails the call.
type fakeForge struct {
	register   func(forge.RunnerSpec) (forge.Registration, error)
	runner     func(int64) (forge.Runner, error)
	runners    func(string) ([]forge.Runner, error)
	deregister func(int64) error
}

var _ Forge = (*fakeForge)(nil)

func (f *fakeForge) Register(_ context.Context, s forge.RunnerSpec) (forge.Registration, error) {
	if f.register == nil {
		return forge.Registration{}, forge.ErrTransient
	}
	return f.register(s)
}

func (f *fakeForge) Runner(_ context.Context, id int64) (forge.Runner, error) {
	if f.runner == nil {
		return forge.Runner{}, forge.ErrTransient
	}
	return f.runner(id)
}

func (f *fakeForge) Runners(_ context.Context, prefix string) ([]forge.Runner, error) {
	if f.runners == nil {
		return nil, forge.ErrTransient
	}
	return f.runners(prefix)
}

func (f *fakeForge) Deregister(_ context.Context, id int64) error {
	if f.deregister == nil {
		return forge.ErrTransient
	}
	return f.deregister(id)
}
