package github

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the GitHub client's Prometheus collectors. A Factory owns one set, registered
// with the Registerer it was given.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	remaining *prometheus.GaugeVec
	mints     *prometheus.CounterVec
	limited   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_github_requests_total",
			Help: "GitHub API requests by endpoint, method and status code (\"error\" when no answer came).",
		}, []string{"endpoint", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corral_github_request_duration_seconds",
			Help:    "Duration of GitHub API requests by endpoint and method.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "method"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corral_github_rate_limit_remaining",
			Help: "Requests left in the current primary rate-limit window, by credential Secret.",
		}, []string{"credential"}),
		mints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_github_token_mints_total",
			Help: "GitHub App installation tokens requested, by credential Secret and result.",
		}, []string{"credential", "result"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_github_rate_limited_total",
			Help: "Times a credential was found rate limited, by credential Secret and kind (primary, secondary; paced: Corral's own pacer held a registration).",
		}, []string{"credential", "kind"}),
	}
	if reg == nil {
		return m
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.remaining = register(reg, m.remaining)
	m.mints = register(reg, m.mints)
	m.limited = register(reg, m.limited)
	return m
}

// register registers c, or returns the collector already registered under its name (e.g.
// by another Factory on the same registry).
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
