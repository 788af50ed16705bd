package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/netpol"
)

// ensureNetworkPolicies creates the pool's NetworkPolicies, or updates them in place when the
// pool's network spec or the nodes' addresses changed. It runs before any runner pod is
// created; the nodes are listed only for a mode that excepts them.
func (r *RunnerPoolReconciler) ensureNetworkPolicies(ctx context.Context, pool *corralv1.RunnerPool) error {
	var nodes []netip.Addr
	if netpol.ExceptsNodes(pool.Spec.Network.Egress) {
		var err error
		if nodes, err = r.nodeAddresses(ctx); err != nil {
			return err
		}
	}
	for _, want := range netpol.Build(pool, nodes...) {
		have := &networkingv1.NetworkPolicy{}
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have)
		switch {
		case apierrors.IsNotFound(err):
			if err := r.Client.Create(ctx, want); err != nil {
				return fmt.Errorf("creating NetworkPolicy %s: %w", want.Name, err)
			}
		case err != nil:
			return fmt.Errorf("reading NetworkPolicy %s: %w", want.Name, err)
		case !equality.Semantic.DeepEqual(have.Spec, want.Spec) || !equality.Semantic.DeepEqual(have.Labels, want.Labels):
			have.Spec = want.Spec
			have.Labels = want.Labels
			if err := r.Client.Update(ctx, have); err != nil {
				return fmt.Errorf("updating NetworkPolicy %s: %w", want.Name, err)
			}
		}
	}
	return nil
}

// nodeAddresses are the addresses of every node (from the cache), for the Internet mode to
// except; an address that does not parse is not one a pod could send to, and is skipped.
func (r *RunnerPoolReconciler) nodeAddresses(ctx context.Context) ([]netip.Addr, error) {
	nodes := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodes); err != nil {
		return nil, fmt.Errorf("listing nodes for their addresses: %w", err)
	}
	var out []netip.Addr
	for _, n := range nodes.Items {
		out = append(out, parsedNodeAddresses(&n)...)
	}
	return out, nil
}

// parsedNodeAddresses are the IP addresses a node reports (not its host names).
func parsedNodeAddresses(n *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if addr, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, addr)
		}
	}
	return out
}

// nodeHandler maps a Node event to the pools of the Internet egress mode, whose policies
// except the nodes' public addresses.
func (r *RunnerPoolReconciler) nodeHandler() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		pools := &corralv1.RunnerPoolList{}
		if err := r.Client.List(ctx, pools); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, p := range pools.Items {
			if netpol.ExceptsNodes(p.Spec.Network.Egress) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
			}
		}
		return out
	})
}

// nodeExceptionsChanged passes the Node events that change what the Internet mode excepts:
// a node with a public address comes or goes, or a node's public addresses change. Private
// addresses are excepted anyway, and every other node update (status, heartbeats) is dropped.
func nodeExceptionsChanged() predicate.Predicate {
	exceptions := func(o client.Object) []string {
		n, ok := o.(*corev1.Node)
		if !ok {
			return nil
		}
		v4, v6 := netpol.NodeExceptions(parsedNodeAddresses(n))
		return append(v4, v6...)
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return len(exceptions(e.Object)) > 0 },
		DeleteFunc: func(e event.DeleteEvent) bool { return len(exceptions(e.Object)) > 0 },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !slices.Equal(exceptions(e.ObjectOld), exceptions(e.ObjectNew))
		},
	}
}
