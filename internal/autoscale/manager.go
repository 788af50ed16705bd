package autoscale

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// The receiver reads pools and classes from the cache, the webhook Secrets (global and the
// classes') and the classes' credentials Secrets (installation-id only) with uncached
// GETs, and applies status.demand. These markers feed the controller's generated role (a
// process running both components); the receiver's own Deployment gets exactly these
// rules, its Secret reads narrowed to the operator's namespace and to named Secrets
// (config/webhook, the chart's webhook RBAC).
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools,verbs=get;list;watch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/status,verbs=patch
// +kubebuilder:rbac:groups=corral.run,resources=runnerclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// AddToManager adds both the receiver (AddReceiver) and the delivery recovery
// (AddRecovery) to mgr: one process doing all the webhook work.
func AddToManager(mgr ctrl.Manager, opts Options, reg prometheus.Registerer) error {
	if err := AddReceiver(mgr, opts, reg); err != nil {
		return err
	}
	if err := AddRecovery(mgr, opts, reg); err != nil {
		return err
	}
	return AddPull(mgr, opts, reg)
}

// AddReceiver adds the webhook receiver to mgr when opts enable it (a SecretRef is set and
// BindAddress is not "0"): a runnable serving deliveries on its own port on every replica
// (no leader election). It needs only RunnerPools and RunnerClasses in mgr's cache
// (mgr.GetClient()), so only the namespaces the manager caches are served, and reads
// Secrets through mgr.GetAPIReader(). Metrics go to reg, and a collector of every pool's
// demand (corral_pool_queued_jobs, ...) is registered there too.
func AddReceiver(mgr ctrl.Manager, opts Options, reg prometheus.Registerer) error {
	if !opts.Enabled() {
		return nil
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return fmt.Errorf("webhook receiver options: %w", err)
	}
	m := NewMetrics(reg)
	if reg != nil {
		if err := reg.Register(newDemandCollector(mgr.GetClient(), opts.DemandTTL)); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return fmt.Errorf("registering the demand collector: %w", err)
			}
		}
	}
	rec := newRecorder(mgr, opts, m)
	global := newSecretKeyring(mgr.GetAPIReader(), opts.SecretRef)
	keys := &receiverKeys{
		global:  global,
		classes: newClassKeyring(mgr.GetClient(), mgr.GetAPIReader(), opts.classSecretNamespace(), global.Keys),
	}
	h := &handler{
		path: opts.Path, maxBody: opts.MaxBodyBytes, keys: keys, events: rec, timeout: opts.CommitTimeout,
		metrics: m, now: time.Now, seen: newSeenSet(opts.CompletedTTL, 100000),
	}
	r := &receiver{addr: opts.BindAddress, handler: h, committer: rec.committer, keys: keys, cache: mgr.GetCache()}
	if err := mgr.Add(r); err != nil {
		return fmt.Errorf("adding the webhook receiver: %w", err)
	}
	return nil
}

// AddRecovery adds the delivery recovery loop to mgr, on the leader only, when
// opts.Recovery names credentials. It replays deliveries into status.demand through a
// committer of its own, routed by the RunnerClasses in mgr's cache (vouchReplay). It needs
// the App's credentials, so it belongs with the controller, not the internet-facing
// receiver.
func AddRecovery(mgr ctrl.Manager, opts Options, reg prometheus.Registerer) error {
	if !opts.Recovery.Enabled() {
		return nil
	}
	return addLogReading(mgr, opts, reg, "delivery recovery", func(opts Options, rec *recorder, m *Metrics) []manager.Runnable {
		return []manager.Runnable{newRecoverer(opts.Recovery, mgr.GetAPIReader(), mgr.GetClient(), rec, opts.CommitTimeout, m, reg)}
	})
}

// AddPull adds pull mode to mgr, on the leader only, when opts.Pull names credentials: one
// reader per App, applying its delivery log's workflow_job events to status.demand through
// a committer of its own (shared by the readers), routed like the recovery's (vouchReplay).
// It keeps each reader's progress in a ConfigMap beside the App's Secret. It needs the
// Apps' credentials, so it belongs with the controller.
func AddPull(mgr ctrl.Manager, opts Options, reg prometheus.Registerer) error {
	if !opts.Pull.Enabled() {
		return nil
	}
	return addLogReading(mgr, opts, reg, "pull", func(opts Options, rec *recorder, m *Metrics) []manager.Runnable {
		var readers []manager.Runnable
		for _, ref := range opts.Pull.CredentialsRefs {
			readers = append(readers, newPuller(opts.Pull, ref, mgr.GetAPIReader(), mgr.GetClient(), mgr.GetClient(), rec, opts.CommitTimeout, m, reg))
		}
		return readers
	})
}

// addLogReading adds the readers of App delivery logs that readers builds (with the
// options' defaults, a recorder and its committer of their own) to mgr, as what.
func addLogReading(mgr ctrl.Manager, opts Options, reg prometheus.Registerer, what string,
	readers func(opts Options, rec *recorder, m *Metrics) []manager.Runnable,
) error {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return fmt.Errorf("webhook %s options: %w", what, err)
	}
	m := NewMetrics(reg)
	rec := newRecorder(mgr, opts, m)
	if err := mgr.Add(&logReading{committer: rec.committer, readers: readers(opts, rec, m)}); err != nil {
		return fmt.Errorf("adding the webhook %s: %w", what, err)
	}
	return nil
}

// newRecorder is a recorder writing status.demand through its own committer.
func newRecorder(mgr ctrl.Manager, opts Options, m *Metrics) *recorder {
	st := &store{
		cache: mgr.GetClient(), api: mgr.GetAPIReader(), writer: mgr.GetClient(),
		policy: opts.policy(), metrics: m, now: time.Now,
	}
	c := newCommitter(st, opts.CommitInterval, opts.CommitTimeout, opts.QueueSize, opts.Workers, m)
	c.linger = opts.CompletionLinger
	return &recorder{pools: mgr.GetClient(), committer: c, metrics: m}
}
