package autoscale

import (
	"context"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/corral-run/corral/internal/github"
)

// recoveryOverlap re-reads this much of the log before the previous cycle's start, so an
// attempt logged while that cycle ran is not missed. GitHub gives up on a receiver after
// 10 s.
const recoveryOverlap = time.Minute

// KeyCABundle is the optional key of the recovery credentials Secret holding PEM CA
// certificates for a GitHub Enterprise Server.
const KeyCABundle = "ca.crt"

// deliveryLog is the part of the GitHub App API the recovery uses (github.AppClient).
type deliveryLog interface {
	ListHookDeliveries(ctx context.Context, since time.Time, afterID int64, maxPages int) ([]github.HookDelivery, bool, error)
	GetHookDelivery(ctx context.Context, id int64) (github.HookDeliveryDetail, error)
	RedeliverHookDelivery(ctx context.Context, id int64) error
}

var _ deliveryLog = (*github.AppClient)(nil)

// recoverer reads the App's webhook delivery log and recovers the workflow_job deliveries
// whose every attempt failed: by default it replays the logged payload into the demand
// store, through the same recorder (and group commit) as the webhook handler, and counts a
// delivery recovered only once it is persisted (the API is reachable even when GitHub
// cannot reach the endpoint, the usual reason for the failure); in redeliver mode it asks
// GitHub to send them again. Each delivery (GUID) is recovered once; replaying one twice
// would be harmless anyway, as job states only move forward. It runs on the leader only.
// A replayed delivery comes from GitHub's own log, so no secret vouches for it: it reaches
// the pools of the classes that serve its job (vouchReplay).
type recoverer struct {
	replayer
	appLog
	opts RecoveryOptions

	handled   *seenSet  // GUIDs recovered
	watermark time.Time // start of the last complete cycle
}

var (
	_ manager.Runnable               = (*recoverer)(nil)
	_ manager.LeaderElectionRunnable = (*recoverer)(nil)
)

func newRecoverer(opts RecoveryOptions, secrets, classes client.Reader, events eventRecorder, timeout time.Duration, m *Metrics, reg prometheus.Registerer) *recoverer {
	return &recoverer{
		replayer: replayer{classes: classes, events: events, timeout: timeout, metrics: m, now: time.Now},
		appLog:   newAppLog(opts.CredentialsRef, "recovery", secrets, opts.GitHubURL, reg),
		opts:     opts,
		handled:  newSeenSet(2*opts.MaxAge+recoveryOverlap, 100000),
	}
}

// NeedLeaderElection is true: one replica reads the log.
func (r *recoverer) NeedLeaderElection() bool { return true }

// Start runs a recovery cycle at once and then every interval until ctx ends.
func (r *recoverer) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("webhook-recovery")
	ctx = log.IntoContext(ctx, logger)
	wait.JitterUntilWithContext(ctx, func(ctx context.Context) {
		if err := r.cycle(ctx); err != nil {
			logger.Error(err, "recovering failed webhook deliveries")
		}
	}, r.opts.Interval, 0.1, false)
	return nil
}

// cycle recovers the failed deliveries logged since the last complete cycle (at most
// MaxAge back).
func (r *recoverer) cycle(ctx context.Context) error {
	lg, err := r.client(ctx)
	if err != nil {
		return err
	}
	start := r.now()
	since := start.Add(-r.opts.MaxAge)
	if from := r.watermark.Add(-recoveryOverlap); from.After(since) {
		since = from
	}
	list, complete, err := lg.ListHookDeliveries(ctx, since, 0, r.opts.MaxPages)
	if err != nil {
		return err
	}
	if !complete {
		log.FromContext(ctx).Info("the delivery log holds more than the page budget in the window; older deliveries wait for the next cycle",
			"pages", r.opts.MaxPages, "since", since)
	}
	allDone := complete
	for _, d := range failedDeliveries(list) {
		if !r.handled.add(d.GUID) {
			continue
		}
		ok, stop := r.recover(ctx, lg, d)
		if !ok {
			r.handled.forget(d.GUID)
			allDone = false
		}
		if stop {
			break
		}
	}
	if allDone {
		r.watermark = start
	}
	return nil
}

// recover brings back one delivery. ok false: try again next cycle; stop: end this cycle.
func (r *recoverer) recover(ctx context.Context, lg deliveryLog, d github.HookDelivery) (ok, stop bool) {
	logger := log.FromContext(ctx).WithValues("delivery", d.GUID, "action", d.Action, "failedWith", d.StatusCode)
	if r.opts.Mode == RecoveryRedeliver {
		if err := lg.RedeliverHookDelivery(ctx, d.ID); err != nil {
			logger.Error(err, "asking GitHub to redeliver")
			r.metrics.recovered.WithLabelValues("failed").Inc()
			return false, github.IsRetryable(err)
		}
		logger.Info("asked GitHub to redeliver a failed delivery")
		r.metrics.recovered.WithLabelValues("redelivered").Inc()
		return true, false
	}
	res, stop := r.replay(ctx, lg, d)
	switch res {
	case replayed:
		logger.Info("replayed a failed delivery")
		r.metrics.recovered.WithLabelValues("replayed").Inc()
	case replayFailed, replayGone: // tried again next cycle, while the log holds it
		r.metrics.recovered.WithLabelValues("failed").Inc()
		return false, stop
	}
	return true, stop
}

// failedDeliveries returns, oldest first, the latest attempt of each workflow_job event
// (GUID) of a relevant action none of whose listed attempts succeeded.
func failedDeliveries(list []github.HookDelivery) []github.HookDelivery {
	succeeded := map[string]bool{}
	latest := map[string]github.HookDelivery{}
	for _, d := range list {
		if !relevantDelivery(d) {
			continue
		}
		if d.Succeeded() {
			succeeded[d.GUID] = true
		}
		if cur, ok := latest[d.GUID]; !ok || d.ID > cur.ID {
			latest[d.GUID] = d
		}
	}
	var out []github.HookDelivery
	for guid, d := range latest {
		if !succeeded[guid] {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
