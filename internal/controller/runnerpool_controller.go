// Package controller reconciles RunnerPools into NetworkPolicies, runner pods, their JIT
// Secrets and their GitHub registrations.
package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/forge"
)

// Demand is what webhook deliveries say about a pool: jobs queued and not yet taken, and the
// runners known to run a job.
type Demand struct {
	Queued      int32
	BusyRunners map[string]bool
	// QueuedSince holds when each queued job was first seen, oldest first.
	QueuedSince []time.Time
	// Jobs identify the jobs busy runners took, by runner name (those the webhook receiver
	// recorded: status.demand.attributions).
	Jobs map[string]corralv1.JobAttribution
}

// DefaultCreateConcurrency is how many runners of one pool are created in parallel by
// default.
const DefaultCreateConcurrency = 50

// DefaultStatusInterval is the default Options.StatusInterval.
const DefaultStatusInterval = 5 * time.Second

// Options tune the reconciler; zero values take the defaults in withDefaults.
type Options struct {
	// MaxConcurrentReconciles is how many pools are reconciled at once.
	MaxConcurrentReconciles int
	// CreateConcurrency bounds the runners created in parallel for one pool.
	CreateConcurrency int
	// MaxCreatesPerReconcile bounds the runners created by one reconcile; more follow at once.
	MaxCreatesPerReconcile int
	// SweepInterval is how often a pool's registrations are compared with its pods when
	// nothing else calls for it (a restart, orphan candidates): a safety net.
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
	// BusyClaimTTL is how long a webhook's word that a runner took a job is believed before
	// GitHub is asked: a forged delivery cannot pin a runner busy for longer.
	BusyClaimTTL time.Duration
	// StatusInterval is the least time between two status writes of a pool that change only
	// its counts (runners, idle, busy, pending, queued and the Ready message): a pool's
	// status is written at most once per interval while runners come and go, never once per
	// runner. Any other change is written at once.
	StatusInterval time.Duration
	// JobEvents records an Event on a runner pod when it is attributed to the job it took:
	// one more API write per runner (off by default; the labels and annotations are there
	// either way).
	JobEvents bool
	// StalledRecheck is how often a class-less pool whose credentials are missing or
	// refused is tried again (its Secrets, in its own namespace, are not watched).
	StalledRecheck time.Duration
	// AuditRecheck is how often the controller asks discovery again whether Tetragon's
	// TracingPolicyNamespaced is served while audited pools wait for it.
	AuditRecheck time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.CreateConcurrency == 0 {
		o.CreateConcurrency = DefaultCreateConcurrency
	}
	if o.MaxCreatesPerReconcile == 0 {
		o.MaxCreatesPerReconcile = 50
	}
	def(&o.SweepInterval, 30*time.Minute)
	def(&o.OrphanGrace, time.Minute)
	def(&o.PendingTimeout, 10*time.Minute)
	def(&o.DrainTimeout, 10*time.Minute)
	def(&o.BusyRecheck, 30*time.Second)
	def(&o.StalledRecheck, 5*time.Minute)
	def(&o.AuditRecheck, time.Minute)
	def(&o.BusyClaimTTL, 5*time.Minute)
	def(&o.StatusInterval, DefaultStatusInterval)
	return o
}

// RunnerPoolReconciler turns a RunnerPool into NetworkPolicies and ephemeral runners.
type RunnerPoolReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads credentials Secrets and CA bundles live (they are not cached).
	APIReader client.Reader
	// Forges builds a pool's forge.
	Forges ForgeFactory
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

	expect   expectations
	writes   ownWrites
	admitted admissions
	audits   audits
	// started is when this process began reconciling (as the leader, its cache synced):
	// what is older may have been left half done by an earlier process, so pools last
	// swept before it are swept at once, and pods created before it have their JIT Secret
	// checked once.
	started     time.Time
	startedOnce sync.Once
}

// +kubebuilder:rbac:groups=corral.run,resources=runnerpools,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/status,verbs=patch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/finalizers,verbs=update
// +kubebuilder:rbac:groups=corral.run,resources=runnerclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=list;watch
// +kubebuilder:rbac:groups="",namespace=corral-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=corral-system,resources=configmaps,verbs=get
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one RunnerPool towards its desired state: observe the pool (and, when a
// sweep is due, its registrations), plan what to do (pure), act, and write the status once.
func (r *RunnerPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.startedOnce.Do(func() { r.started = r.now() })
	pool := &corralv1.RunnerPool{}
	if err := r.Client.Get(ctx, req.NamespacedName, pool); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.writes.overlay(pool)
	if !pool.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(pool, corralv1.FinalizerPool) {
		return ctrl.Result{}, nil
	}
	cv, err := r.resolveClass(ctx, pool)
	if err != nil {
		return ctrl.Result{}, err
	}
	if pool.DeletionTimestamp.IsZero() {
		if err := r.ensureFinalizer(ctx, pool); err != nil {
			return ctrl.Result{}, err
		}
		// Before any pod: a runner never runs unfenced, nor without the CA it must trust.
		if err := r.ensureNetworkPolicies(ctx, cv.effective); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.ensureCABundle(ctx, pool, &cv); err != nil {
			return ctrl.Result{}, err
		}
	}
	var audited *metav1.Condition
	if pool.DeletionTimestamp.IsZero() {
		if audited, err = r.ensureAudit(ctx, cv.effective, r.now()); err != nil {
			return ctrl.Result{}, err
		}
	}
	o, err := r.observe(ctx, pool, cv)
	if err != nil {
		return ctrl.Result{}, err
	}
	o.audited = audited
	f := r.session(pool, cv.class)
	r.readForge(ctx, o, f)
	p := planPool(o, r.opts())
	out := r.act(ctx, o, p, f)
	return r.finish(ctx, o, p, out)
}

// finish writes the status and turns the outcome into the reconcile's result: Kubernetes
// API errors are retried with backoff; a pool that needs a user's fix waits for a change
// (TerminalError); everything else, forge backoffs included, comes back when the plan asks.
func (r *RunnerPoolReconciler) finish(ctx context.Context, o *observation, p plan, out outcome) (ctrl.Result, error) {
	st := computeStatus(o, p, out)
	r.Metrics.observePool(o.pool, st)
	deferred, err := r.writeStatus(ctx, o.pool, st, o.now)
	if err != nil {
		return ctrl.Result{}, joinErr(out.apiErr, err)
	}
	if out.apiErr != nil {
		return ctrl.Result{}, out.apiErr
	}
	requeue := p.requeue
	if deferred > 0 {
		requeue = min(nonZero(requeue), deferred)
	}
	if out.waiting {
		requeue = min(nonZero(requeue), r.opts().BusyRecheck)
	}
	if len(o.inFlight) > 0 {
		requeue = min(nonZero(requeue), expectationTimeout)
	}
	if o.audited != nil {
		// Tetragon may be installed later; a policy someone deleted or edited is put back.
		requeue = min(nonZero(requeue), r.opts().AuditRecheck)
	}
	if until := pacedUntil(out.forgeErr); !until.IsZero() {
		// The pacer holds the rest of the batch, and the runners beyond it (p.more): come
		// back when its next slot frees, not at once only to be paced again.
		log.FromContext(ctx).V(1).Info("registrations paced", "created", out.created, "resume", until.Sub(o.now).String())
		return ctrl.Result{RequeueAfter: min(nonZero(requeue), max(until.Sub(o.now), time.Millisecond))}, nil
	}
	if p.more {
		requeue = time.Nanosecond // more to create than one reconcile does: at once
	}
	if out.forgeErr != nil {
		kind := forge.KindOf(out.forgeErr)
		log.FromContext(ctx).Info("forge call failed", "kind", string(kind), "error", out.forgeErr.Error())
		if kind.Fatal() && o.class.class != nil {
			// A change of the class, its Secrets (watched) or the pool resumes it.
			return ctrl.Result{}, reconcile.TerminalError(out.forgeErr)
		}
		if kind.Fatal() {
			// A class-less pool's own Secrets are not watched (the controller watches no
			// Secret outside its namespace): look again now and then.
			return ctrl.Result{RequeueAfter: r.opts().StalledRecheck}, nil
		}
		if t := st.History.ForgeRetryTime; t != nil && t.After(o.now) {
			// Whatever else waits needs the forge: nothing to do before it may be called.
			requeue = max(requeue, t.Sub(o.now))
		}
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// nonZero treats "no requeue" as forever for min.
func nonZero(d time.Duration) time.Duration {
	if d == 0 {
		return time.Duration(1<<63 - 1)
	}
	return d
}

func (r *RunnerPoolReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
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
// NetworkPolicies, RunnerClasses, Namespaces (their labels decide which classes serve
// them), Nodes (their public addresses are excepted from Internet egress), and the metadata
// of the operator namespace's Secrets (a class's credentials).
func (r *RunnerPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options = r.Options.withDefaults()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corralv1.RunnerPool{}, classIndex, indexClass); err != nil {
		return fmt.Errorf("indexing pools by class: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&corralv1.RunnerPool{}, builder.WithPredicates(poolChanged())).
		Owns(&corev1.Pod{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corralv1.RunnerClass{}, r.classHandler()).
		Watches(&corev1.Node{}, r.nodeHandler(), builder.WithPredicates(nodeExceptionsChanged())).
		WatchesMetadata(namespaceMetadata(), r.namespaceHandler(), builder.WithPredicates(predicate.LabelChangedPredicate{}))
	if r.OperatorNamespace != "" { // the cache holds the Secrets of that namespace only (CacheByObject)
		b = b.WatchesMetadata(secretMetadata(), r.secretHandler())
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).Complete(r)
}

// opts are the reconciler's options with defaults filled in.
func (r *RunnerPoolReconciler) opts() Options { return r.Options.withDefaults() }
