package app

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
)

func runnerPod(name, node string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ci", Labels: map[string]string{corralv1.LabelComponent: corralv1.ComponentRunner}},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func node(name, arch string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{nodeArchLabel: arch}}}
}

// startAgent runs an agent against a fake clientset holding objs, until the test ends.
func startAgent(t *testing.T, objs ...any) (*agent, *fake.Clientset, *githubtest.Server, *dispatcher) {
	t.Helper()
	var rt []any
	rt = append(rt, objs...)
	cs := fake.NewClientset()
	for _, o := range rt {
		var err error
		switch o := o.(type) {
		case *corev1.Pod:
			_, err = cs.CoreV1().Pods(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		case *corev1.Node:
			_, err = cs.CoreV1().Nodes().Create(context.Background(), o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	gh := githubtest.New(githubtest.Options{})
	s := &sent{}
	d := newDispatcher(gh, s.send, time.Hour, quiet())
	a := &agent{cs: cs, gh: gh, jobs: d, log: quiet(), pods: map[string]podRef{}, timeline: map[string]podTimes{}}
	d.pods = a
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := a.start(ctx); err != nil {
		t.Fatal(err)
	}
	return a, cs, gh, d
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgentBringsRunnersOnlineWhenTheirPodRuns(t *testing.T) {
	a, cs, gh, _ := startAgent(t, node("arm-0", "arm64"), runnerPod("pending-1", "", corev1.PodPending))
	addRunner(gh, "pending-1", false)
	addRunner(gh, "running-1", false)
	ctx := context.Background()
	if _, err := cs.CoreV1().Pods("ci").Create(ctx, runnerPod("running-1", "arm-0", corev1.PodRunning), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "running-1 online", func() bool { r, _ := gh.Runner("running-1"); return r.Online })
	if r, _ := gh.Runner("pending-1"); r.Online {
		t.Errorf("pending-1 online: a runner connects only once its pod runs")
	}
	if got := a.arch("running-1"); got != "arm64" {
		t.Errorf("arch(running-1) = %q, want arm64 (its node's architecture)", got)
	}
	if got := a.arch("nobody"); got != "x64" {
		t.Errorf("arch(unknown) = %q, want x64", got)
	}

	if err := a.exit(ctx, "running-1", 3); err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods("ci").Get(ctx, "running-1", metav1.GetOptions{})
	if err != nil || pod.Annotations[AnnotationExitCode] != "3" {
		t.Errorf("exit annotation = %q (%v), want 3", pod.Annotations[AnnotationExitCode], err)
	}

	if err := cs.CoreV1().Pods("ci").Delete(ctx, "running-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "running-1 offline", func() bool { r, _ := gh.Runner("running-1"); return !r.Online })
}

func TestAgentReportsABusyRunnerWhosePodGoesAway(t *testing.T) {
	_, cs, gh, d := startAgent(t, runnerPod("busy-1", "amd-0", corev1.PodRunning))
	addRunner(gh, "busy-1", true)
	ctx := context.Background()
	if _, err := d.queue(ctx, QueueRequest{Labels: []string{"self-hosted"}, Hold: true}); err != nil {
		t.Fatal(err)
	}
	d.tick(ctx)
	if j := d.list()[0]; j.Runner != "busy-1" {
		t.Fatalf("job = %+v, want it on busy-1", j)
	}
	pod := runnerPod("busy-1", "amd-0", corev1.PodRunning)
	now := metav1.Now()
	pod.DeletionTimestamp = &now
	if _, err := cs.CoreV1().Pods("ci").Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job lost", func() bool { return d.list()[0].Lost })
	a, _ := d.pods.(*agent)
	if pt := a.podTimesOf("busy-1"); pt.seen.IsZero() || pt.gone.Before(pt.seen) {
		t.Errorf("pod timeline = %+v, want seen, then gone", pt)
	}
}
