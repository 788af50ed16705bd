// Package controller reconciles RunnerPools into NetworkPolicies, runner pods, their JIT
// Secrets and their GitHub registrations.
package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// Demand is what webhook deliveries say about a pool: jobs queued and not yet taken, and the
// runners known to run a job.
type Demand struct {
	Queued      int32
	BusyRunners map[string]bool
	// QueuedSince holds when each queued job was first seen, oldest first.
	QueuedSince []time.Time
}

// Options tune the reconciler; zero values take the defaults in withDefaults.
type Options struct {
	// MaxConcurrentReconciles is how many pools are reconciled at once.
	MaxConcurrentReconciles int
	// CreateConcurrency bounds the runners created in parallel for one pool.
	CreateConcurrency int
	// MaxCreatesPerReconcile bounds the runners created by one reconcile; more follow at once.
	MaxCreatesPerReconcile int
	// SweepInterval is how often a pool's registrations are compared with its pods.
	SweepInterval time.Duration
	// OrphanGrace is how long a registration without a pod is left alone, so runners being
	// created are never taken for orphans.
	OrphanGrace time.Duration
	// PendingTimeout is how long a runner pod may stay pending before it is replaced.
	PendingTimeout time.Duration
	// DrainTimeout bounds how long a pod's or the pool's finalizer waits for GitHub (busy
	// runner, unusable credentials) before it is released with a warning Event.
	DrainTimeout time.Duration
	// BusyRecheck is how often a busy runner that must go is checked again.
	BusyRecheck time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.CreateConcurrency == 0 {
		o.CreateConcurrency = 8
	}
	if o.MaxCreatesPerReconcile == 0 {
		o.MaxCreatesPerReconcile = 50
	}
	def(&o.SweepInterval, 3*time.Minute)
	def(&o.OrphanGrace, time.Minute)
	def(&o.PendingTimeout, 10*time.Minute)
	def(&o.DrainTimeout, 10*time.Minute)
	def(&o.BusyRecheck, 30*time.Second)
	return o
}

// RunnerPoolReconciler turns a RunnerPool into NetworkPolicies and ephemeral runners.
type RunnerPoolReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads credentials Secrets and CA bundles live (they are not cached).
	APIReader client.Reader
	// Clients builds GitHub clients.
	Clients ClientFactory
	// Recorder records Events.
	Recorder events.EventRecorder
	// OperatorNamespace may hold credentials shared with other namespaces.
	OperatorNamespace string
	// DemandOf reads webhook demand from a pool; nil means none (minIdle only).
	DemandOf func(pool *corralv1.RunnerPool, now time.Time) Demand
	// Metrics records runner counts and lifecycle events; nil records nothing.
	Metrics *Metrics
	// ObserveQueuedToPod records the time from a job's queued delivery to the creation of a
	// runner pod for it; nil records nothing.
	ObserveQueuedToPod func(pool types.NamespacedName, queuedAt time.Time)
	// Now is the clock; time.Now when nil.
	Now     func() time.Time
	Options Options

	memory memories
}

// +kubebuilder:rbac:groups=corral.run,resources=runnerpools,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// reconcileState is one reconcile's view of a pool and what it decided.
type reconcileState struct {
	pool    *corralv1.RunnerPool
	prefix  string
	now     time.Time
	runners []runnerPod
	demand  Demand

	gh      GitHub
	ghErr   error
	ghBuilt bool

	blocked, stalled *metav1.Condition
	requeue          time.Duration
}

// requeueAfter asks for the earliest of the requested requeues.
func (s *reconcileState) requeueAfter(d time.Duration) {
	if d > 0 && (s.requeue == 0 || d < s.requeue) {
		s.requeue = d
	}
}

// setState records what the reconcile did to a runner, so later phases and the status see it.
func (s *reconcileState) setState(pod *corev1.Pod, state runnerState) {
	for i := range s.runners {
		if s.runners[i].pod == pod {
			s.runners[i].state = state
		}
	}
}

// Reconcile brings one RunnerPool towards its desired state.
func (r *RunnerPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	pool := &corralv1.RunnerPool{}
	if err := r.Client.Get(ctx, req.NamespacedName, pool); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s, err := r.observe(ctx, pool)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer func() { res, retErr = r.writeStatus(ctx, s, res, retErr) }()

	if !pool.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if err := r.ensureFinalizer(ctx, pool); err != nil {
		return ctrl.Result{}, err
	}
	phases := []func(context.Context, *reconcileState) error{
		r.ensureNetworkPolicies, // before any pod: a runner never runs unfenced
		r.recordBusy,
		r.releaseDeleting,
		r.cleanUpFinished,
		r.replaceBroken,
		r.sweep,
		r.scale,
	}
	for _, phase := range phases {
		if err := phase(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: s.requeue}, nil
}

func (r *RunnerPoolReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// observe lists the pool's pods and JIT Secrets from the cache and reads its demand.
func (r *RunnerPoolReconciler) observe(ctx context.Context, pool *corralv1.RunnerPool) (*reconcileState, error) {
	sel := client.MatchingLabels{corralv1.LabelPool: pool.Name}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(pool.Namespace), sel,
		client.MatchingLabels{corralv1.LabelComponent: corralv1.ComponentRunner}); err != nil {
		return nil, fmt.Errorf("listing runner pods: %w", err)
	}
	secrets := &metav1.PartialObjectMetadataList{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.Client.List(ctx, secrets, client.InNamespace(pool.Namespace), sel,
		client.MatchingLabels{corralv1.LabelComponent: corralv1.ComponentJITConfig}); err != nil {
		return nil, fmt.Errorf("listing JIT Secrets: %w", err)
	}
	jit := make(map[string]bool, len(secrets.Items))
	for _, s := range secrets.Items {
		jit[s.Name] = true
	}
	s := &reconcileState{pool: pool, prefix: github.RunnerNamePrefix(pool.Name, pool.UID), now: r.now()}
	if r.DemandOf != nil {
		s.demand = r.DemandOf(pool, s.now)
	}
	s.runners = classify(pool, pods.Items, s.demand.BusyRunners, jit)
	return s, nil
}

// github returns the pool's GitHub client, built on first use so that a reconcile with
// nothing to do reads no Secret and calls no API.
func (r *RunnerPoolReconciler) github(ctx context.Context, s *reconcileState) (GitHub, error) {
	if !s.ghBuilt {
		s.gh, s.ghErr = r.gitHubClient(ctx, s.pool)
		s.ghBuilt = true
	}
	return s.gh, s.ghErr
}

func (r *RunnerPoolReconciler) ensureFinalizer(ctx context.Context, pool *corralv1.RunnerPool) error {
	if controllerutil.ContainsFinalizer(pool, corralv1.FinalizerPool) {
		return nil
	}
	patch := client.MergeFrom(pool.DeepCopy())
	controllerutil.AddFinalizer(pool, corralv1.FinalizerPool)
	if err := r.Client.Patch(ctx, pool, patch); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	return nil
}

// SetupWithManager registers the reconciler: it watches pools, their runner pods and
// NetworkPolicies, and the metadata of Secrets (JIT Secrets, and credential Secrets so that
// fixing one resumes the pools that use it).
func (r *RunnerPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options = r.Options.withDefaults()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corralv1.RunnerPool{}, credentialsIndex, indexCredentials); err != nil {
		return fmt.Errorf("indexing pools by credentials: %w", err)
	}
	secrets := &metav1.PartialObjectMetadata{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return ctrl.NewControllerManagedBy(mgr).
		For(&corralv1.RunnerPool{}).
		Owns(&corev1.Pod{}).
		Owns(&networkingv1.NetworkPolicy{}).
		WatchesMetadata(secrets, r.secretHandler()).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}
