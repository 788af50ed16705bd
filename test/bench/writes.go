//go:build bench

package main

import (
	"sort"
	"sync"
	"time"

	"github.com/corral-run/corral/test/harness"
)

// Resource buckets of corral's writes, as the report splits them.
const (
	resPods       = "pods"
	resSecrets    = "secrets"
	resPoolStatus = "runnerpools/status"
	resEvents     = "events"
	resOther      = "other"
)

var resourceBuckets = []string{resPods, resSecrets, resPoolStatus, resEvents, resOther}

// noFieldManager labels writes that name no field manager (merge patches and updates of
// controller-runtime's client; server-side applies must name one).
const noFieldManager = "none (merge patch)"

// auditTrail is every write of corral's ServiceAccount the API server logged (the audit
// policy in testdata/audit-policy.yaml logs nothing else), read as the log grows.
type auditTrail struct {
	user string
	log  *harness.AuditLog

	mu     sync.Mutex
	events []harness.AuditEvent
	err    error // the first read error: the counts are then incomplete
}

func newAuditTrail(path, user string) *auditTrail {
	return &auditTrail{user: user, log: harness.OpenAuditLog(path)}
}

// between returns the events of requests received in [from, to).
func (a *auditTrail) between(from, to time.Time) []harness.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	evs, err := a.log.Read()
	if err != nil && a.err == nil {
		a.err = err
		logf("audit log: %v (Kubernetes write counts are incomplete)", err)
	}
	for _, e := range evs {
		if e.User.Username == a.user {
			a.events = append(a.events, e)
		}
	}
	var out []harness.AuditEvent
	for _, e := range a.events {
		if !e.RequestReceived.Before(from) && e.RequestReceived.Before(to) {
			out = append(out, e)
		}
	}
	return out
}

// writeCounts are corral's Kubernetes writes over a window, from the audit log.
type writeCounts struct {
	// stored counts the writes that were not dry runs: bucket -> verb -> requests.
	stored map[string]map[string]int
	// other counts the "other" bucket by resource.
	other map[string]int
	// dryRun counts dry-run requests (dryRun=All: admission ran, nothing was stored) by
	// "verb resource".
	dryRun map[string]int
	// status lists each pool's status writes ("namespace/name" -> writes, oldest first).
	status map[string][]statusWrite
	// failed counts the stored writes answered with an error (a conflict, say).
	failed int
}

// statusWrite is one write of a pool's status.
type statusWrite struct {
	at      time.Time
	manager string
}

func countWrites(evs []harness.AuditEvent) writeCounts {
	w := writeCounts{stored: map[string]map[string]int{}, other: map[string]int{}, dryRun: map[string]int{}, status: map[string][]statusWrite{}}
	for _, e := range evs {
		res := e.Resource()
		if e.DryRun() {
			w.dryRun[e.Verb+" "+res]++
			continue
		}
		bucket := res
		switch res {
		case resPods, resSecrets, resPoolStatus, resEvents:
		default:
			bucket = resOther
			w.other[res]++
		}
		if w.stored[bucket] == nil {
			w.stored[bucket] = map[string]int{}
		}
		w.stored[bucket][e.Verb]++
		if e.ResponseStatus.Code >= 300 {
			w.failed++
		}
		if res == resPoolStatus {
			key := e.ObjectRef.Namespace + "/" + e.ObjectRef.Name
			manager := e.FieldManager()
			if manager == "" {
				manager = noFieldManager
			}
			w.status[key] = append(w.status[key], statusWrite{at: e.RequestReceived, manager: manager})
		}
	}
	for _, list := range w.status {
		sort.Slice(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
	}
	return w
}

// total is the stored writes of the given buckets (all when none is given).
func (w writeCounts) total(buckets ...string) int {
	if len(buckets) == 0 {
		buckets = resourceBuckets
	}
	n := 0
	for _, b := range buckets {
		for _, c := range w.stored[b] {
			n += c
		}
	}
	return n
}

// perRunner is the stored writes that count against the per-runner budget: everything but
// the pools' status, which has its own target.
func (w writeCounts) perRunner() int { return w.total(resPods, resSecrets, resEvents, resOther) }

// dryRuns is the dry-run requests of every kind.
func (w writeCounts) dryRuns() int {
	n := 0
	for _, c := range w.dryRun {
		n += c
	}
	return n
}

// poolStatus summarizes one pool's status writes over a window.
type poolStatus struct {
	pool      string
	writes    int
	byManager map[string]int
	// perMinute counts the writes by manager in each minute from the window's start.
	perMinute map[string][]int
	// minGap is the shortest time between two consecutive writes (any manager), and
	// minGapBy the same per manager; 0 with fewer than two writes.
	minGap   time.Duration
	minGapBy map[string]time.Duration
}

// poolStatuses summarizes each pool's status writes, from start, pools sorted by name.
func (w writeCounts) poolStatuses(start time.Time) []poolStatus {
	var out []poolStatus
	for pool, list := range w.status {
		ps := poolStatus{pool: pool, writes: len(list), byManager: map[string]int{}, perMinute: map[string][]int{}, minGapBy: map[string]time.Duration{}}
		last := map[string]time.Time{}
		for i, sw := range list {
			ps.byManager[sw.manager]++
			m := max(0, int(sw.at.Sub(start)/time.Minute))
			counts := ps.perMinute[sw.manager]
			for len(counts) <= m {
				counts = append(counts, 0)
			}
			counts[m]++
			ps.perMinute[sw.manager] = counts
			if i > 0 {
				ps.minGap = minPositive(ps.minGap, sw.at.Sub(list[i-1].at))
			}
			if prev, ok := last[sw.manager]; ok {
				ps.minGapBy[sw.manager] = minPositive(ps.minGapBy[sw.manager], sw.at.Sub(prev))
			}
			last[sw.manager] = sw.at
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pool < out[j].pool })
	return out
}

// minPositive is the smaller of a and b, where 0 means "none yet" for a.
func minPositive(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return max(b, time.Nanosecond) // two writes in the same instant still count as a gap
	}
	return a
}

// maxPerMinute is the largest count of one minute, summed over the managers.
func (ps poolStatus) maxPerMinute() int {
	var sum []int
	for _, counts := range ps.perMinute {
		for i, c := range counts {
			for len(sum) <= i {
				sum = append(sum, 0)
			}
			sum[i] += c
		}
	}
	best := 0
	for _, c := range sum {
		best = max(best, c)
	}
	return best
}
