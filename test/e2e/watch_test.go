//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/cmd/fake-github/app"
)

// Kinds the recorder watches.
const (
	kindPod           = "Pod"
	kindNetworkPolicy = "NetworkPolicy"
)

// observation is one watch event, reduced to what the specs check.
type observation struct {
	Type     watch.EventType
	Kind     string
	Name     string
	RV       uint64 // the object's resourceVersion: etcd's revision, ordered across kinds
	Phase    corev1.PodPhase
	Node     string
	Deleting bool
	ExitCode string // the kwok exit-code annotation, set when the runner finished
}

// live reports whether a pod observation is a runner that counts towards a pool's size:
// neither being deleted nor terminated.
func (o observation) live() bool {
	return !o.Deleting && o.Phase != corev1.PodSucceeded && o.Phase != corev1.PodFailed
}

// recorder keeps every Pod and NetworkPolicy event of a namespace, from before the spec
// creates anything. Events of one watch arrive in order; resourceVersions (etcd revisions
// on this cluster) order events across the two watches.
type recorder struct {
	mu   sync.Mutex
	obs  []observation
	errs []string
}

// recordNamespace starts watching ns (a list, then a watch from the list's resourceVersion,
// so nothing is missed) until the spec ends.
func recordNamespace(ctx context.Context, ns string) *recorder {
	r := &recorder{}
	wctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	for _, list := range []client.ObjectList{&corev1.PodList{}, &networkingv1.NetworkPolicyList{}} {
		Expect(env.k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		rv := list.(metav1.ListInterface).GetResourceVersion()
		w, err := env.k8s.Watch(wctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		Expect(err).NotTo(HaveOccurred())
		go r.consume(wctx, w)
	}
	return r
}

func (r *recorder) consume(ctx context.Context, w watch.Interface) {
	defer w.Stop()
	for ev := range w.ResultChan() {
		o, ok := toObservation(ev)
		r.mu.Lock()
		if ok {
			r.obs = append(r.obs, o)
		} else {
			r.errs = append(r.errs, fmt.Sprintf("watch event %s: %v", ev.Type, ev.Object))
		}
		r.mu.Unlock()
	}
	if ctx.Err() == nil {
		r.mu.Lock()
		r.errs = append(r.errs, "a watch ended before the spec did")
		r.mu.Unlock()
	}
}

func toObservation(ev watch.Event) (observation, bool) {
	o := observation{Type: ev.Type}
	switch obj := ev.Object.(type) {
	case *corev1.Pod:
		o.Kind, o.Name, o.Phase, o.Node = kindPod, obj.Name, obj.Status.Phase, obj.Spec.NodeName
		o.Deleting, o.ExitCode = obj.DeletionTimestamp != nil, obj.Annotations[app.AnnotationExitCode]
		o.RV, _ = strconv.ParseUint(obj.ResourceVersion, 10, 64)
	case *networkingv1.NetworkPolicy:
		o.Kind, o.Name = kindNetworkPolicy, obj.Name
		o.RV, _ = strconv.ParseUint(obj.ResourceVersion, 10, 64)
	default:
		return o, false
	}
	return o, ev.Type == watch.Added || ev.Type == watch.Modified || ev.Type == watch.Deleted
}

// snapshot returns the events so far and the watch errors.
func (r *recorder) snapshot() ([]observation, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]observation(nil), r.obs...), append([]string(nil), r.errs...)
}

// added returns the ADDED events of kind, in arrival order.
func (r *recorder) added(kind string) []observation {
	obs, _ := r.snapshot()
	var out []observation
	for _, o := range obs {
		if o.Kind == kind && o.Type == watch.Added {
			out = append(out, o)
		}
	}
	return out
}

// maxLivePods is the most runner pods of the namespace that were live at the same time.
func (r *recorder) maxLivePods() int {
	obs, _ := r.snapshot()
	live := map[string]bool{}
	most := 0
	for _, o := range obs {
		if o.Kind != kindPod {
			continue
		}
		if o.Type != watch.Deleted && o.live() {
			live[o.Name] = true
		} else {
			delete(live, o.Name)
		}
		most = max(most, len(live))
	}
	return most
}

// deletedBeforeFinishing reports whether the pod's deletion began before it terminated: for
// a busy runner, that would kill its job.
func (r *recorder) deletedBeforeFinishing(pod string) bool {
	obs, _ := r.snapshot()
	for _, o := range obs {
		if o.Kind != kindPod || o.Name != pod {
			continue
		}
		if o.Phase == corev1.PodSucceeded || o.Phase == corev1.PodFailed {
			return false
		}
		if o.Deleting || o.Type == watch.Deleted {
			return true
		}
	}
	return false
}

// expectNoWatchErrors fails the spec if a watch broke (its record would be incomplete).
func (r *recorder) expectNoWatchErrors() {
	_, errs := r.snapshot()
	ExpectWithOffset(1, errs).To(BeEmpty(), "the namespace's watches must cover the whole spec")
}
