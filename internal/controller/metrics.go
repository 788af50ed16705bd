package controller

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Metrics are the controller's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	runners     *prometheus.GaugeVec
	created     *prometheus.CounterVec
	failed      *prometheus.CounterVec
	queuedToPod *prometheus.HistogramVec
}

// NewMetrics creates the controller's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		runners: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corral_runners", Help: "Runners of a pool by state (pending, idle, busy).",
		}, []string{"namespace", "pool", "state"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_runners_created_total", Help: "Runners created (registered and their pod created).",
		}, []string{"namespace", "pool"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_runner_failures_total", Help: "Runners that failed or exited without a job, by exit code (-1: never started).",
		}, []string{"namespace", "pool", "exit_code"}),
	}
	for _, c := range []prometheus.Collector{m.runners, m.created, m.failed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observePool(pool *corralv1.RunnerPool, st *corralv1.RunnerPoolStatus) {
	if m == nil {
		return
	}
	m.runners.WithLabelValues(pool.Namespace, pool.Name, "pending").Set(float64(st.Pending))
	m.runners.WithLabelValues(pool.Namespace, pool.Name, "idle").Set(float64(st.Idle))
	m.runners.WithLabelValues(pool.Namespace, pool.Name, "busy").Set(float64(st.Busy))
}

func (m *Metrics) runnerCreated(pool *corralv1.RunnerPool) {
	if m == nil {
		return
	}
	m.created.WithLabelValues(pool.Namespace, pool.Name).Inc()
}

func (m *Metrics) runnerFailed(pool *corralv1.RunnerPool, code int32) {
	if m == nil {
		return
	}
	m.failed.WithLabelValues(pool.Namespace, pool.Name, strconv.Itoa(int(code))).Inc()
}
