package autoscale

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
)

// The receiver reads pools from the cache, reads the webhook and recovery Secrets with
// uncached GETs, and applies status.demand.
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools,verbs=get;list;watch
// +kubebuilder:rbac:groups=corral.run,resources=runnerpools/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// AddToManager adds the webhook receiver to mgr when opts enable it (a SecretRef is set
// and BindAddress is not "0"): a runnable serving deliveries on its own port on every
// replica (no leader election), and, when opts.Recovery names credentials, the delivery
// recovery loop on the leader only. Pools are listed from mgr's cache (mgr.GetClient()),
// so only the namespaces the manager caches are served. Metrics go to reg, and a collector
// of every pool's demand (corral_pool_queued_jobs, ...) is registered there too.
func AddToManager(mgr ctrl.Manager, opts Options, reg prometheus.Registerer) error {
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
	st := &store{
		cache: mgr.GetClient(), api: mgr.GetAPIReader(), writer: mgr.GetClient(),
		policy: opts.policy(), metrics: m, now: time.Now,
	}
	c := newCommitter(st, opts.CommitInterval, opts.CommitTimeout, opts.QueueSize, opts.Workers, m)
	rec := &recorder{pools: mgr.GetClient(), committer: c, metrics: m}
	keys := newSecretKeyring(mgr.GetAPIReader(), opts.SecretRef)
	h := &handler{
		path: opts.Path, maxBody: opts.MaxBodyBytes, keys: keys, events: rec, timeout: opts.CommitTimeout,
		metrics: m, now: time.Now, seen: newSeenSet(opts.CompletedTTL, 100000),
	}
	if err := mgr.Add(&receiver{addr: opts.BindAddress, handler: h, committer: c, keys: keys}); err != nil {
		return fmt.Errorf("adding the webhook receiver: %w", err)
	}
	if opts.Recovery.Enabled() {
		if err := mgr.Add(newRecoverer(opts.Recovery, mgr.GetAPIReader(), rec, opts.CommitTimeout, m, reg)); err != nil {
			return fmt.Errorf("adding the webhook delivery recovery: %w", err)
		}
	}
	return nil
}
