package autoscale

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Outcomes of a delivery (the outcome label of corral_webhook_deliveries_total).
const (
	outcomeAccepted     = "accepted"     // recorded in the demand store (202)
	outcomeUnmatched    = "unmatched"    // no pool matches the job: nothing to record (200)
	outcomeNotRecorded  = "not_recorded" // the write failed or took too long (503)
	outcomeDuplicate    = "duplicate"    // delivery or job state already seen (200)
	outcomeIgnored      = "ignored"      // another event or an unknown action (200)
	outcomePing         = "ping"         // ping answered (200)
	outcomeUnauthorized = "unauthorized" // missing or bad signature (401)
	outcomeBadRequest   = "bad_request"  // bad method, content type, size or payload (4xx)
	outcomeQueueFull    = "queue_full"   // too many deliveries wait for their write (503)
	outcomeUnavailable  = "unavailable"  // no webhook secret loaded (503)
	// A class's secret verified the delivery but the class does not serve its job (401).
	outcomeScopeRefused = "scope_refused"
	// A class's secret verified a delivery through another App installation (401).
	outcomeInstallationRefused = "installation_refused"
)

// Results of applying a job event to the demand store (corral_webhook_job_events_total).
const (
	resultApplied   = "applied"   // written to a pool's status.demand
	resultUnchanged = "unchanged" // the pool already knew (duplicate or out of order)
	resultUnmatched = "unmatched" // no pool matches the job
	resultPoolGone  = "pool_gone" // the pool was deleted meanwhile
	resultRejected  = "rejected"  // the API server refused the write as invalid
	resultFailed    = "failed"    // the write failed or timed out (the deliveries got 503)
)

// Metrics are the autoscaler's Prometheus collectors. NewMetrics on the same Registerer
// returns collectors shared with earlier calls, so the controller and AddToManager can
// each ask for them.
type Metrics struct {
	deliveries    *prometheus.CounterVec
	sigFailures   *prometheus.CounterVec
	jobEvents     *prometheus.CounterVec
	backlog       prometheus.Gauge
	conflicts     prometheus.Counter
	recovered     *prometheus.CounterVec
	pulled        *prometheus.CounterVec
	queuedToPod   *prometheus.HistogramVec
	commitSeconds prometheus.Histogram
}

// NewMetrics creates the collectors and registers them with reg (nil: nowhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_webhook_deliveries_total",
			Help: "GitHub webhook deliveries received, by event, action and outcome (accepted, unmatched, duplicate, ignored, ping, unauthorized, scope_refused, installation_refused, bad_request, queue_full, not_recorded, unavailable). Unverified deliveries have event \"unverified\".",
		}, []string{"event", "action", "outcome"}),
		sigFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_webhook_signature_failures_total",
			Help: "Webhook deliveries refused for their X-Hub-Signature-256, by reason (missing, malformed, mismatch).",
		}, []string{"reason"}),
		jobEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_webhook_job_events_total",
			Help: "workflow_job events applied to the demand store, by result (applied, unchanged, unmatched, pool_gone, rejected, failed).",
		}, []string{"result"}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corral_webhook_backlog",
			Help: "workflow_job events waiting for, or in, the write that records them on this replica.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_webhook_store_conflicts_total",
			Help: "Writes of status.demand retried because another writer changed the pool first.",
		}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_webhook_recovered_deliveries_total",
			Help: "Failed workflow_job deliveries recovered from the GitHub App's delivery log, by result (replayed, redelivered, failed).",
		}, []string{"result"}),
		pulled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_webhook_pulled_deliveries_total",
			Help: "Pull mode: workflow_job deliveries taken from the GitHub Apps' delivery logs by result (applied, ignored, failed), and reads held for the App's budget (budget_wait).",
		}, []string{"result"}),
		queuedToPod: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corral_job_queued_to_pod_seconds",
			Help:    "Time from a job's queued delivery to the creation of the runner pod created for it, by pool.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
		}, []string{"namespace", "pool"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corral_webhook_commit_seconds",
			Help:    "Time a workflow_job event waited for the write that recorded it in its pool's status.demand (or failed).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
	}
	if reg == nil {
		return m
	}
	m.deliveries = register(reg, m.deliveries)
	m.sigFailures = register(reg, m.sigFailures)
	m.jobEvents = register(reg, m.jobEvents)
	m.backlog = register(reg, m.backlog)
	m.conflicts = register(reg, m.conflicts)
	m.recovered = register(reg, m.recovered)
	m.pulled = register(reg, m.pulled)
	m.queuedToPod = register(reg, m.queuedToPod)
	m.commitSeconds = register(reg, m.commitSeconds)
	return m
}

// ObserveQueuedToPod records that a runner pod of pool was created for a job first seen
// queued at queuedAt (Demand.QueuedSince). The controller calls it once per pod it creates
// while jobs are queued. A nil Metrics records nothing.
func (m *Metrics) ObserveQueuedToPod(pool types.NamespacedName, queuedAt time.Time) {
	if m == nil || queuedAt.IsZero() {
		return
	}
	m.queuedToPod.WithLabelValues(pool.Namespace, pool.Name).Observe(max(0, time.Since(queuedAt).Seconds()))
}

// register registers c, or returns the collector already registered under its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A different collector under our name is a programming error.
		panic(err)
	}
	return c
}

// demandCollector reports every pool's demand at scrape time from the manager's cache, so
// every replica reports the same numbers whichever one wrote them.
type demandCollector struct {
	reader client.Reader
	ttl    time.Duration
	queued *prometheus.Desc
	busy   *prometheus.Desc
	oldest *prometheus.Desc
}

func newDemandCollector(reader client.Reader, ttl time.Duration) *demandCollector {
	labels := []string{"namespace", "pool"}
	return &demandCollector{
		reader: reader, ttl: ttl,
		queued: prometheus.NewDesc("corral_pool_queued_jobs", "Jobs queued for the pool and not yet taken by a runner (status.demand).", labels, nil),
		busy:   prometheus.NewDesc("corral_pool_busy_runners_by_jobs", "Runners running one of the pool's jobs, per status.demand.", labels, nil),
		oldest: prometheus.NewDesc("corral_pool_oldest_queued_job_age_seconds", "Age of the pool's longest-waiting queued job; 0 when none.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *demandCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queued
	ch <- c.busy
	ch <- c.oldest
}

// Collect implements prometheus.Collector.
func (c *demandCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var pools corralv1.RunnerPoolList
	// DemandOf only reads the pools: no need to copy the cache's objects.
	if err := c.reader.List(ctx, &pools, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	now := time.Now()
	for i := range pools.Items {
		p := &pools.Items[i]
		d := DemandOf(p, now, c.ttl)
		age := 0.0
		if d.OldestQueued != nil {
			age = now.Sub(*d.OldestQueued).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(d.Queued), p.Namespace, p.Name)
		ch <- prometheus.MustNewConstMetric(c.busy, prometheus.GaugeValue, float64(len(d.BusyRunners)), p.Namespace, p.Name)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, p.Namespace, p.Name)
	}
}
