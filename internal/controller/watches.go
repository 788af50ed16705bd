package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// credentialsIndex indexes pools by the "namespace/name" of every credentials Secret they use.
const credentialsIndex = "spec.github.credentials"

func indexCredentials(obj client.Object) []string {
	pool, ok := obj.(*corralv1.RunnerPool)
	if !ok {
		return nil
	}
	refs := credentialRefs(pool)
	keys := make([]string, 0, len(refs))
	for _, ref := range refs {
		keys = append(keys, types.NamespacedName{Namespace: credentialsNamespace(pool, ref), Name: ref.Name}.String())
	}
	return keys
}

// secretHandler maps a Secret event to the pools it concerns: the pool a JIT Secret belongs
// to, and every pool using a credentials Secret.
func (r *RunnerPoolReconciler) secretHandler() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		if pool := obj.GetLabels()[corralv1.LabelPool]; pool != "" &&
			obj.GetLabels()[corralv1.LabelComponent] == corralv1.ComponentJITConfig {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: pool}}}
		}
		pools := &corralv1.RunnerPoolList{}
		key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}.String()
		if err := r.Client.List(ctx, pools, client.MatchingFields{credentialsIndex: key}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(pools.Items))
		for _, p := range pools.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
		}
		return reqs
	})
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
