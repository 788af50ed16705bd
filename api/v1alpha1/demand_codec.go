package v1alpha1

import (
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxDemandOffset is the largest offset an entry may carry (12 digits of milliseconds,
// about 31 years); the encoder clamps larger ones, which no TTL comes near.
const maxDemandOffset = 999_999_999_999

// DemandEntry is one job of a PoolDemand, decoded.
// +kubebuilder:object:generate=false
type DemandEntry struct {
	// ID is GitHub's workflow job ID (> 0).
	ID int64
	// State is JobQueued (in queued), JobInProgress (in running) or JobCompleted (in done).
	State JobState
	// At is when the job entered State, to the millisecond.
	At time.Time
	// Runner is the suffix of the runner running the job (JobInProgress only).
	Runner string
}

// demandRank orders states: a job only moves to a higher rank.
func demandRank(s JobState) int {
	switch s {
	case JobQueued:
		return 1
	case JobInProgress:
		return 2
	case JobCompleted:
		return 3
	}
	return 0
}

// EncodeDemand is the PoolDemand holding entries: each list sorted by job ID, epoch the
// oldest entry's time truncated to the second. Entries that cannot be encoded (an ID <= 0,
// an unknown state, a running entry without a valid runner suffix) are left out, and a job
// listed twice keeps its furthest state. No entries give an empty PoolDemand.
func EncodeDemand(entries []DemandEntry) *PoolDemand {
	byID := make(map[int64]DemandEntry, len(entries))
	for _, e := range entries {
		if !encodable(e) {
			continue
		}
		if cur, ok := byID[e.ID]; !ok || demandRank(e.State) > demandRank(cur.State) {
			byID[e.ID] = e
		}
	}
	if len(byID) == 0 {
		return &PoolDemand{}
	}
	ids := make([]int64, 0, len(byID))
	var oldest time.Time
	for id, e := range byID {
		ids = append(ids, id)
		if oldest.IsZero() || e.At.Before(oldest) {
			oldest = e.At
		}
	}
	slices.Sort(ids)
	epoch := oldest.UTC().Truncate(time.Second)
	var queued, running, done []byte
	for _, id := range ids {
		e := byID[id]
		ms := min(max(e.At.Sub(epoch).Milliseconds(), 0), maxDemandOffset)
		switch e.State {
		case JobQueued:
			queued = appendEntry(queued, id, ms, "")
		case JobInProgress:
			running = appendEntry(running, id, ms, e.Runner)
		case JobCompleted:
			done = appendEntry(done, id, ms, "")
		}
	}
	return &PoolDemand{Epoch: &metav1.Time{Time: epoch}, Queued: string(queued), Running: string(running), Done: string(done)}
}

// encodable reports whether e can be written.
func encodable(e DemandEntry) bool {
	if e.ID <= 0 || demandRank(e.State) == 0 {
		return false
	}
	return e.State != JobInProgress || validRunnerSuffix(e.Runner)
}

// appendEntry appends "ID+MS" or "ID+MS=RUNNER" to b, space-separated.
func appendEntry(b []byte, id, ms int64, runner string) []byte {
	if len(b) > 0 {
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '+')
	b = strconv.AppendInt(b, ms, 10)
	if runner != "" {
		b = append(b, '=')
		b = append(b, runner...)
	}
	return b
}

// DecodeDemand returns the entries of d, at most MaxTrackedJobs, running first, then
// queued, then done, each in the order written. Malformed entries are skipped; a job listed
// more than once keeps its furthest state. A nil d has no entries; a missing epoch counts
// as the Unix epoch (so every entry is long expired).
func DecodeDemand(d *PoolDemand) []DemandEntry {
	if d == nil {
		return nil
	}
	epoch := time.Unix(0, 0).UTC()
	if d.Epoch != nil {
		epoch = d.Epoch.UTC()
	}
	var out []DemandEntry
	index := map[int64]int{}
	for _, list := range []struct {
		s     string
		state JobState
	}{{d.Running, JobInProgress}, {d.Queued, JobQueued}, {d.Done, JobCompleted}} {
		for rest := list.s; rest != ""; {
			var tok string
			tok, rest, _ = strings.Cut(rest, " ")
			e, ok := parseEntry(tok, list.state, epoch)
			if !ok {
				continue
			}
			if i, seen := index[e.ID]; seen {
				if demandRank(e.State) > demandRank(out[i].State) {
					out[i] = e
				}
				continue
			}
			if len(out) == MaxTrackedJobs {
				continue
			}
			index[e.ID] = len(out)
			out = append(out, e)
		}
	}
	return out
}

// parseEntry parses one entry of a list of state.
func parseEntry(tok string, state JobState, epoch time.Time) (DemandEntry, bool) {
	idText, rest, ok := strings.Cut(tok, "+")
	if !ok {
		return DemandEntry{}, false
	}
	msText, runner := rest, ""
	if state == JobInProgress {
		if msText, runner, ok = strings.Cut(rest, "="); !ok || !validRunnerSuffix(runner) {
			return DemandEntry{}, false
		}
	}
	id, ok := parseDigits(idText, 19)
	if !ok || id <= 0 {
		return DemandEntry{}, false
	}
	ms, ok := parseDigits(msText, 12)
	if !ok {
		return DemandEntry{}, false
	}
	return DemandEntry{ID: id, State: state, At: epoch.Add(time.Duration(ms) * time.Millisecond), Runner: runner}, true
}

// parseDigits parses 1 to maxDigits decimal digits (no sign) that fit an int64.
func parseDigits(s string, maxDigits int) (int64, bool) {
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// validRunnerSuffix reports whether s is DemandRunnerSuffixLength characters of [a-z0-9].
func validRunnerSuffix(s string) bool {
	if len(s) != DemandRunnerSuffixLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'a' || s[i] > 'z') && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// Tracks reports whether job id has an entry in d, in any list, without decoding it.
func (d *PoolDemand) Tracks(id int64) bool {
	if d == nil || id <= 0 {
		return false
	}
	needle := strconv.FormatInt(id, 10) + "+"
	for _, s := range []string{d.Queued, d.Running, d.Done} {
		for from := 0; ; {
			i := strings.Index(s[from:], needle)
			if i < 0 {
				break
			}
			if at := from + i; at == 0 || s[at-1] == ' ' {
				return true
			}
			from += i + 1
		}
	}
	return false
}
