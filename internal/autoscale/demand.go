package autoscale

import (
	"sort"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Demand is what a pool's status.jobs asks of the pool at a given time.
type Demand struct {
	// Queued is the number of jobs queued for the pool and not yet taken by a runner:
	// desired runners = busy + minIdle + Queued, capped at maxRunners.
	Queued int32
	// BusyRunners are the names of the runners running one of the pool's jobs (never
	// nil). A runner of another pool may appear when it took a job matched to this pool.
	BusyRunners map[string]bool
	// OldestQueued is when the longest-waiting queued job was first seen; nil when none is.
	OldestQueued *time.Time
	// QueuedSince holds when each queued job was first seen, oldest first (len Queued):
	// pair the k-th runner pod created for the demand with QueuedSince[k] when observing
	// Metrics.ObserveQueuedToPod.
	QueuedSince []time.Time
}

// DemandOf reads the demand in a pool's status.jobs at now. Queued and InProgress jobs
// with no news for longer than ttl (> 0) are ignored: their follow-up was lost.
func DemandOf(pool *corralv1.RunnerPool, now time.Time, ttl time.Duration) Demand {
	d := Demand{BusyRunners: map[string]bool{}}
	for _, j := range pool.Status.Jobs {
		if j.State == corralv1.JobCompleted || (ttl > 0 && now.Sub(j.UpdatedAt.Time) > ttl) {
			continue
		}
		switch j.State {
		case corralv1.JobQueued:
			d.Queued++
			since := j.UpdatedAt.Time
			if j.QueuedAt != nil {
				since = j.QueuedAt.Time
			}
			d.QueuedSince = append(d.QueuedSince, since)
		case corralv1.JobInProgress:
			if j.RunnerName != "" {
				d.BusyRunners[j.RunnerName] = true
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
