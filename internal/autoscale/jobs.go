package autoscale

import (
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Policy is how a pool's status.jobs is kept.
type Policy struct {
	// DemandTTL drops a Queued or InProgress job with no news for this long.
	DemandTTL time.Duration
	// CompletedTTL drops a Completed job this long after it completed.
	CompletedTTL time.Duration
	// MaxJobs bounds the list: past it, the oldest Completed jobs go first, then the
	// stalest others.
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

// mergeJobs applies events, in order, to a pool's jobs at now and returns the new list,
// sorted by job ID, and whether any event brought news. Without news the list is returned
// unchanged (there is nothing to write); with news it is also pruned by p. jobs is not
// modified.
//
// A job's state only moves forward, so duplicates and out-of-order deliveries change
// nothing: a completed job stays completed whatever arrives later, and an in_progress that
// overtook its queued leaves the job in progress. An event for an unknown job inserts it
// in the event's state (a completed one as a tombstone that blocks a late queued).
func mergeJobs(jobs []corralv1.Job, events []Event, now time.Time, p Policy) ([]corralv1.Job, bool) {
	byID := make(map[int64]*corralv1.Job, len(jobs)+len(events))
	out := make([]corralv1.Job, 0, len(jobs)+len(events))
	for _, j := range jobs {
		out = append(out, *j.DeepCopy())
	}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	var added []corralv1.Job
	changed := false
	for _, ev := range events {
		at := ev.ReceivedAt
		if at.IsZero() {
			at = now
		}
		cur, ok := byID[ev.JobID]
		if !ok {
			for i := range added {
				if added[i].ID == ev.JobID {
					cur, ok = &added[i], true
				}
			}
		}
		if !ok {
			j := corralv1.Job{ID: ev.JobID, State: ev.State, Repository: ev.Repository, UpdatedAt: metav1.NewTime(at)}
			if ev.State == corralv1.JobQueued {
				queuedAt := metav1.NewTime(at)
				j.QueuedAt = &queuedAt
			} else {
				j.RunnerName = ev.RunnerName
			}
			added = append(added, j)
			changed = true
			continue
		}
		if rank(ev.State) <= rank(cur.State) {
			continue
		}
		cur.State = ev.State
		if ev.RunnerName != "" {
			cur.RunnerName = ev.RunnerName
		}
		if cur.Repository == "" {
			cur.Repository = ev.Repository
		}
		cur.UpdatedAt = metav1.NewTime(at)
		changed = true
	}
	if !changed {
		return jobs, false
	}
	out = append(out, added...)
	out = prune(out, now, p)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, true
}

// prune drops expired jobs and bounds the list to p.MaxJobs.
func prune(jobs []corralv1.Job, now time.Time, p Policy) []corralv1.Job {
	kept := jobs[:0]
	for _, j := range jobs {
		if !expired(j, now, p) {
			kept = append(kept, j)
		}
	}
	if p.MaxJobs <= 0 || len(kept) <= p.MaxJobs {
		return kept
	}
	// Drop the oldest Completed first, then the stalest others.
	sort.SliceStable(kept, func(i, j int) bool {
		ci, cj := kept[i].State == corralv1.JobCompleted, kept[j].State == corralv1.JobCompleted
		if ci != cj {
			return ci
		}
		return kept[i].UpdatedAt.Before(&kept[j].UpdatedAt)
	})
	return kept[len(kept)-p.MaxJobs:]
}

// expired reports whether a job has outlived its TTL at now.
func expired(j corralv1.Job, now time.Time, p Policy) bool {
	ttl := p.DemandTTL
	if j.State == corralv1.JobCompleted {
		ttl = p.CompletedTTL
	}
	return ttl > 0 && now.Sub(j.UpdatedAt.Time) > ttl
}
