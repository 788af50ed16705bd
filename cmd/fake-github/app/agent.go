package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
)

// AnnotationExitCode on a running pod makes kwok terminate it with that exit code
// (hack/cluster/runner-finish-stage.yaml).
const AnnotationExitCode = "kwok.corral.run/exit-code"

// nodeArchLabel is the well-known node label holding the node's architecture.
const nodeArchLabel = "kubernetes.io/arch"

// agent plays the runner process of every runner pod: the runner connects (online) when its
// pod runs and disconnects when the pod goes away; a pod that vanishes while its runner is
// busy loses the job.
type agent struct {
	cs        kubernetes.Interface
	namespace string
	gh        *githubtest.Server
	jobs      *dispatcher
	log       *slog.Logger

	nodes cache.Indexer // filled by start

	mu       sync.Mutex
	pods     map[string]podRef   // runner name -> its pod
	timeline map[string]podTimes // runner name -> when its pod existed
}

// podRef locates a runner's pod.
type podRef struct {
	namespace, node string
}

// podTimes is when a runner's pod was first seen existing (not terminated, not being
// deleted) and when it was first seen gone.
type podTimes struct {
	seen, gone time.Time
}

func newAgent(kubeconfig, namespace string, gh *githubtest.Server, jobs *dispatcher, log *slog.Logger) (*agent, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return &agent{cs: cs, namespace: namespace, gh: gh, jobs: jobs, log: log, pods: map[string]podRef{}, timeline: map[string]podTimes{}}, nil
}

// start watches nodes (for their architecture) and runner pods until ctx is done, and
// returns once both caches have synced.
func (a *agent) start(ctx context.Context) error {
	nodeInf := informers.NewSharedInformerFactory(a.cs, 0).Core().V1().Nodes().Informer()
	a.nodes = nodeInf.GetIndexer()
	podFactory := informers.NewSharedInformerFactoryWithOptions(a.cs, 0, informers.WithNamespace(a.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = corralv1.LabelComponent + "=" + corralv1.ComponentRunner
		}))
	podInf := podFactory.Core().V1().Pods().Informer()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.observe(obj) },
		UpdateFunc: func(_, obj any) { a.observe(obj) },
		DeleteFunc: func(obj any) { a.deleted(obj) },
	}); err != nil {
		return fmt.Errorf("watching runner pods: %w", err)
	}
	go nodeInf.Run(ctx.Done())
	go podInf.Run(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), nodeInf.HasSynced, podInf.HasSynced) {
		return fmt.Errorf("the pod and node caches did not sync within a minute")
	}
	return nil
}

// observe plays a runner pod's change: running means the runner connected; terminating or
// terminated means it is gone.
func (a *agent) observe(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	terminated := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	a.mu.Lock()
	a.pods[pod.Name] = podRef{namespace: pod.Namespace, node: pod.Spec.NodeName}
	a.markLocked(pod.Name, pod.DeletionTimestamp != nil || terminated)
	a.mu.Unlock()
	switch {
	case pod.DeletionTimestamp != nil:
		a.gone(pod.Name, "pod deleted")
	case terminated:
		a.gone(pod.Name, "pod "+string(pod.Status.Phase))
	case pod.Status.Phase == corev1.PodRunning && pod.Annotations[AnnotationExitCode] == "":
		if r, ok := a.gh.Runner(pod.Name); ok && !r.Online {
			if err := a.gh.SetOnline(pod.Name); err == nil {
				a.log.Info("runner online", "runner", pod.Name, "node", pod.Spec.NodeName)
			}
		}
	}
}

func (a *agent) deleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.gone(pod.Name, "pod deleted")
	a.mu.Lock()
	delete(a.pods, pod.Name)
	a.markLocked(pod.Name, true)
	a.mu.Unlock()
}

// markLocked records the first time the runner's pod was seen existing, or gone.
func (a *agent) markLocked(runner string, gone bool) {
	t := a.timeline[runner]
	switch {
	case gone && t.gone.IsZero():
		t.gone = time.Now()
	case !gone && t.seen.IsZero():
		t.seen = time.Now()
	default:
		return
	}
	a.timeline[runner] = t
}

// podTimesOf returns when the runner's pod was seen existing and gone (zero: not yet).
func (a *agent) podTimesOf(runner string) podTimes {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.timeline[runner]
}

// gone disconnects a runner whose pod went away; a busy one loses its job.
func (a *agent) gone(name, why string) {
	r, ok := a.gh.Runner(name)
	switch {
	case !ok:
	case r.Busy:
		a.jobs.runnerGone(name, why)
	case r.Online:
		if err := a.gh.SetOffline(name); err == nil {
			a.log.Info("runner offline", "runner", name, "why", why)
		}
	}
}

// exit annotates the runner's pod so that kwok terminates it with code.
func (a *agent) exit(ctx context.Context, runner string, code int) error {
	a.mu.Lock()
	ref, ok := a.pods[runner]
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("no pod for runner %s", runner)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationExitCode: fmt.Sprint(code),
	}}})
	if err != nil {
		return fmt.Errorf("encoding the exit patch: %w", err)
	}
	if _, err := a.cs.CoreV1().Pods(ref.namespace).Patch(ctx, runner, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating pod %s/%s: %w", ref.namespace, runner, err)
	}
	a.log.Info("runner exited", "runner", runner, "code", code)
	return nil
}

// arch is the runner label of the architecture of the node the runner's pod runs on.
func (a *agent) arch(runner string) string {
	a.mu.Lock()
	ref := a.pods[runner]
	a.mu.Unlock()
	obj, ok, _ := a.nodes.GetByKey(ref.node)
	if node, isNode := obj.(*corev1.Node); ok && isNode {
		return githubtest.ArchLabel(node.Labels[nodeArchLabel])
	}
	return githubtest.ArchLabel("")
}
