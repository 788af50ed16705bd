package autoscale

import (
	"cmp"
	"slices"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// JobIdentity is what an in_progress delivery says about the job, for attribution. Every
// text is already cleaned (corralv1.AttributionText): the payload's workflow and job names are the
// workflow author's, any length, any characters.
type JobIdentity struct {
	Workflow   string
	RunID      int64
	RunAttempt int32
	Job        string
	Sender     string
}

// attribute returns the pool's job attributions after events: one for each in_progress
// event by one of this pool's runners (prefix) for a job entries hold as running, kept
// while the job runs, for at most AttributionTTL, newest first (EncodeAttributions keeps
// those that fit). prev is not modified. Pure.
func attribute(prev []corralv1.JobAttribution, events []Event, entries []corralv1.DemandEntry, prefix string, now time.Time) []corralv1.JobAttribution {
	running := make(map[int64]string, len(entries))
	for _, e := range entries {
		if e.State == corralv1.JobInProgress {
			running[e.ID] = e.Runner
		}
	}
	byJob := make(map[int64]corralv1.JobAttribution, len(prev)+len(events))
	for _, a := range prev {
		byJob[a.JobID] = a
	}
	for _, ev := range events {
		if ev.State != corralv1.JobInProgress || !github.OwnsRunnerName(prefix, ev.RunnerName) {
			continue
		}
		if _, known := byJob[ev.JobID]; known {
			continue // the first in_progress names the job; a redelivery changes nothing
		}
		at := ev.ReceivedAt
		if at.IsZero() || at.After(now) {
			at = now
		}
		byJob[ev.JobID] = corralv1.JobAttribution{
			Runner: ev.RunnerName[len(prefix):], JobID: ev.JobID, Repository: corralv1.AttributionText(ev.Repository),
			Workflow: ev.Identity.Workflow, RunID: max(ev.Identity.RunID, 0), RunAttempt: max(ev.Identity.RunAttempt, 0),
			Job: ev.Identity.Job, Sender: ev.Identity.Sender, StartedAt: at.UTC().Truncate(time.Second),
		}
	}
	out := make([]corralv1.JobAttribution, 0, len(byJob))
	for id, a := range byJob {
		if running[id] == a.Runner && now.Sub(a.StartedAt) <= corralv1.AttributionTTL {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b corralv1.JobAttribution) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c // newest first: past the bound the oldest go (their pods are labelled by now)
		}
		return cmp.Compare(a.JobID, b.JobID)
	})
	if len(out) == 0 {
		return nil
	}
	return out
}
