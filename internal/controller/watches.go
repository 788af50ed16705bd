package controller

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// classIndex indexes pools by the RunnerClass they name.
const classIndex = "spec.classRef.name"

func indexClass(obj client.Object) []string {
	pool, ok := obj.(*corralv1.RunnerPool)
	if !ok || pool.Spec.ClassRef == nil {
		return nil
	}
	return []string{pool.Spec.ClassRef.Name}
}

// classHandler maps a RunnerClass event to the pools of the class.
func (r *RunnerPoolReconciler) classHandler() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return r.poolsMatching(ctx, client.MatchingFields{classIndex: obj.GetName()})
	})
}

// namespaceHandler maps a Namespace event (its labels decide which classes serve it) to
// the pools of the namespace that name a class.
func (r *RunnerPoolReconciler) namespaceHandler() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, req := range r.poolsMatching(ctx, client.InNamespace(obj.GetName())) {
			out = append(out, req)
		}
		return out
	})
}

// secretHandler maps an event of a Secret of the operator's namespace (the only Secrets
// the controller watches) to the pools of the classes whose credentials it holds, so that
// fixing a class's Secret resumes its pools at once.
func (r *RunnerPoolReconciler) secretHandler() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		if obj.GetNamespace() != r.OperatorNamespace {
			return nil
		}
		classes := &corralv1.RunnerClassList{}
		if err := r.Client.List(ctx, classes); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, c := range classes.Items {
			if slices.Contains(classCredentialRefs(&c), obj.GetName()) {
				out = append(out, r.poolsMatching(ctx, client.MatchingFields{classIndex: c.Name})...)
			}
		}
		return out
	})
}

// poolsMatching lists the pools matching opts as reconcile requests.
func (r *RunnerPoolReconciler) poolsMatching(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	pools := &corralv1.RunnerPoolList{}
	if err := r.Client.List(ctx, pools, opts...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(pools.Items))
	for _, p := range pools.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
	}
	return reqs
}

// poolChanged passes the pool events a reconcile must see: creation and deletion, and
// updates of the spec (generation), metadata (labels, annotations, finalizers, deletion) or
// the webhook demand. Every other status-only update, the controller's own status write
// above all, is dropped: a status write must never trigger a reconcile, or a failing call
// would be retried at once instead of after its backoff.
func poolChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, ok1 := e.ObjectOld.(*corralv1.RunnerPool)
			cur, ok2 := e.ObjectNew.(*corralv1.RunnerPool)
			if !ok1 || !ok2 {
				return true
			}
			return old.Generation != cur.Generation ||
				!equality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
				!equality.Semantic.DeepEqual(old.Annotations, cur.Annotations) ||
				!equality.Semantic.DeepEqual(old.Finalizers, cur.Finalizers) ||
				!old.DeletionTimestamp.Equal(cur.DeletionTimestamp) ||
				!equality.Semantic.DeepEqual(demandField(old), demandField(cur))
		},
	}
}

// demandField is the part of a pool's status the webhook receiver writes.
func demandField(pool *corralv1.RunnerPool) any { return pool.Status.Demand }
