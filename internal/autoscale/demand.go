package autoscale

import (
	"sort"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// Demand is what a pool's status.demand asks of the pool at a given time.
type Demand struct {
	// Queued is the number of jobs queued for the pool and not yet taken by a runner:
	// desired runners = busy + minIdle + Queued, capped at maxRunners.
	Queued int32
	// BusyRunners are the names of the pool's runners running one of its jobs (never nil).
	BusyRunners map[string]bool
	// OldestQueued is when the longest-waiting queued job was first seen; nil when none is.
	OldestQueued *time.Time
	// QueuedSince holds when each queued job was first seen, oldest first (len Queued):
	// pair the k-th runner pod created for the demand with QueuedSince[k] when observing
	// Metrics.ObserveQueuedToPod.
	QueuedSince []time.Time
	// Jobs identify the jobs of BusyRunners, by runner name, where the receiver recorded
	// them (status.demand.attributions); nil when none is.
	Jobs map[string]corralv1.JobAttribution
}

// DemandOf reads the demand in a pool's status.demand at now. Queued and running jobs
// with no news for longer than ttl (> 0) are ignored: their follow-up was lost.
func DemandOf(pool *corralv1.RunnerPool, now time.Time, ttl time.Duration) Demand {
	d := Demand{BusyRunners: map[string]bool{}}
	prefix := ""
	for _, e := range corralv1.DecodeDemand(pool.Status.Demand) {
		if e.State == corralv1.JobCompleted || (ttl > 0 && now.Sub(e.At) > ttl) {
			continue
		}
		switch e.State {
		case corralv1.JobQueued:
			d.Queued++
			d.QueuedSince = append(d.QueuedSince, e.At)
		case corralv1.JobInProgress:
			if prefix == "" {
				prefix = github.RunnerNamePrefix(pool.Name, pool.UID)
			}
			d.BusyRunners[prefix+e.Runner] = true
		}
	}
	if prefix != "" { // some runner is busy: the attributions may name its job
		for _, a := range corralv1.DecodeAttributions(pool.Status.Demand.Attributions) {
			if name := prefix + a.Runner; d.BusyRunners[name] {
				if d.Jobs == nil {
					d.Jobs = map[string]corralv1.JobAttribution{}
				}
				d.Jobs[name] = a
			}
		}
	}
	sort.Slice(d.QueuedSince, func(i, j int) bool { return d.QueuedSince[i].Before(d.QueuedSince[j]) })
	if len(d.QueuedSince) > 0 {
		oldest := d.QueuedSince[0]
		d.OldestQueued = &oldest
	}
	return d
}
