package autoscale

import (
	"slices"
	"sort"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// Policy is how a pool's status.demand is kept.
type Policy struct {
	// DemandTTL drops a queued or running job with no news for this long.
	DemandTTL time.Duration
	// CompletedTTL drops a tombstone (a job done here) this long after the job left the
	// queue.
	CompletedTTL time.Duration
	// MaxJobs bounds the entries: past it, the oldest tombstones go first, then the stalest
	// others.
	MaxJobs int
}

// rank orders job states: a job only moves to a higher rank.
func rank(s corralv1.JobState) int {
	switch s {
	case corralv1.JobQueued:
		return 1
	case corralv1.JobInProgress:
		return 2
	case corralv1.JobCompleted:
		return 3
	}
	return 0
}

// mergeDemand applies events, in order, to a pool's demand entries at now and returns the
// new entries, sorted by job ID, and whether any event brought news. Without news the
// entries are returned unchanged (there is nothing to write); with news they are also
// pruned by p. entries is not modified. prefix is the pool's runner name prefix.
//
// A job's state only moves forward, so duplicates and out-of-order deliveries change
// nothing: a done job stays done whatever arrives later, and an in_progress that overtook
// its queued leaves the job running. An event for an unknown job inserts it in the state
// the event leads to (a completed one as a tombstone that blocks a late queued).
func mergeDemand(entries []corralv1.DemandEntry, events []Event, prefix string, now time.Time, p Policy) ([]corralv1.DemandEntry, bool) {
	out := slices.Clone(entries)
	index := make(map[int64]int, len(out)+len(events))
	for i, e := range out {
		index[e.ID] = i
	}
	changed := false
	for _, ev := range events {
		at := ev.ReceivedAt
		if at.IsZero() || at.After(now) {
			at = now
		}
		i, known := index[ev.JobID]
		var cur corralv1.DemandEntry
		if known {
			cur = out[i]
		}
		e, news := step(cur, known, ev, prefix, at)
		if !news {
			continue
		}
		changed = true
		if known {
			out[i] = e
			continue
		}
		index[e.ID] = len(out)
		out = append(out, e)
	}
	if !changed {
		return entries, false
	}
	out = prune(out, now, p)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, true
}

// step is the entry a job moves to on ev at at, from cur (known false: the job has no
// entry), and whether that is news. in_progress makes the job running when one of this
// pool's runners (prefix) took it, and done here otherwise: another pool's runner is busy
// with it, and it is no longer demand.
func step(cur corralv1.DemandEntry, known bool, ev Event, prefix string, at time.Time) (corralv1.DemandEntry, bool) {
	next := corralv1.DemandEntry{ID: ev.JobID, State: ev.State, At: at}
	if ev.State == corralv1.JobInProgress {
		if github.OwnsRunnerName(prefix, ev.RunnerName) {
			next.Runner = ev.RunnerName[len(prefix):]
		} else {
			next.State = corralv1.JobCompleted
		}
	}
	if rank(next.State) == 0 || ev.JobID <= 0 || (known && rank(next.State) <= rank(cur.State)) {
		return cur, false
	}
	return next, true
}

// prune drops expired entries and bounds them to p.MaxJobs.
func prune(entries []corralv1.DemandEntry, now time.Time, p Policy) []corralv1.DemandEntry {
	kept := entries[:0]
	for _, e := range entries {
		if !expired(e, now, p) {
			kept = append(kept, e)
		}
	}
	if p.MaxJobs <= 0 || len(kept) <= p.MaxJobs {
		return kept
	}
	// Drop the oldest tombstones first, then the stalest others.
	sort.SliceStable(kept, func(i, j int) bool {
		di, dj := kept[i].State == corralv1.JobCompleted, kept[j].State == corralv1.JobCompleted
		if di != dj {
			return di
		}
		return kept[i].At.Before(kept[j].At)
	})
	return kept[len(kept)-p.MaxJobs:]
}

// expired reports whether an entry has outlived its TTL at now.
func expired(e corralv1.DemandEntry, now time.Time, p Policy) bool {
	ttl := p.DemandTTL
	if e.State == corralv1.JobCompleted {
		ttl = p.CompletedTTL
	}
	return ttl > 0 && now.Sub(e.At) > ttl
}
