//go:build chaos

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github/githubtest"
)

// row is one line of the report: an invariant of Corral's, or a property of the run (did
// the chaos it claims happen), with what was measured and the verdict.
type row struct {
	name, measured, bound string
	pass                  bool
	run                   bool     // a property of the run rather than of Corral
	details               []string // what a failure consists of, readable
}

// facts are the fake's records at the end of the run.
type facts struct {
	stats      app.Stats
	jobs       []app.Job
	regs       []app.RegistrationRecord
	deliveries []githubtest.Delivery
	exits      []exitRecord
}

// check gathers the facts and evaluates every invariant but the log scan.
func (e *environment) check(ctx context.Context, r *runRecord) ([]row, error) {
	var f facts
	var err error
	if f.stats, err = e.gh.Stats(ctx); err != nil {
		return nil, err
	}
	if f.jobs, err = e.gh.Jobs(ctx); err != nil {
		return nil, err
	}
	if f.regs, err = e.gh.Registrations(ctx); err != nil {
		return nil, err
	}
	if f.deliveries, err = e.gh.Deliveries(ctx); err != nil {
		return nil, err
	}
	for _, rep := range e.replicas {
		f.exits = append(f.exits, rep.exitLog()...)
	}
	return []row{
		e.killsRow(r, f), e.leaderRow(r), e.errorRateRow(r), e.outageRow(r), e.paginationRow(f),
		e.ownCrashesRow(f), e.lostJobsRow(f), e.completedRow(r, f), e.podlessDuringRow(r, f), e.podlessAtEndRow(f),
		e.maxRunnersRow(), e.jitRow(r, f), e.outageRequestsRow(r), e.outageWritesRow(r), e.recoveryRow(f),
	}, nil
}

func (e *environment) killsRow(r *runRecord, f facts) row {
	by := map[string]int{}
	fps := map[string]int{}
	for _, x := range f.exits {
		by[x.cause]++
		if x.cause == exitFailpoint {
			fps[x.failpoint]++
		}
	}
	return row{name: "replicas were killed at random moments (SIGKILL) and by failpoints", run: true,
		measured: fmt.Sprintf("%d SIGKILLs (%d planned kills found no running replica), %d failpoint exits %s",
			by[exitKilled], r.killsSkipped, by[exitFailpoint], formatCounts(fps)),
		bound: fmt.Sprintf("≥ %d SIGKILLs", e.cfg.minKills), pass: by[exitKilled] >= e.cfg.minKills}
}

func (e *environment) leaderRow(r *runRecord) row {
	rw := row{name: "the leader (Lease " + leaseName + ") was killed mid-run and the Lease moved", run: true,
		bound: "≥ 1 kill, each followed by a new holder"}
	var took []string
	moved := 0
	for _, k := range r.leaderKills {
		if k.takeover > 0 {
			moved++
			took = append(took, k.takeover.Round(100*time.Millisecond).String())
		} else {
			rw.details = append(rw.details, fmt.Sprintf("killed leader %s at %s: the Lease never changed holder", k.replica, clock(k.at)))
		}
	}
	_, changes := e.leader.lease()
	rw.measured = fmt.Sprintf("%d leader kills, new holder after %s; %d Lease holder changes in all", len(r.leaderKills), strings.Join(took, ", "), changes)
	rw.pass = len(r.leaderKills) > 0 && moved == len(r.leaderKills)
	return rw
}

func (e *environment) errorRateRow(r *runRecord) row {
	failed := faults(r.stats[1]) - faults(r.stats[0]) + faults(r.stats[3]) - faults(r.stats[2])
	total := r.stats[1].Requests - r.stats[0].Requests + r.stats[3].Requests - r.stats[2].Requests
	rate := 0.0
	if total > 0 {
		rate = float64(failed) / float64(total)
	}
	return row{name: "GitHub answered requests with 5xx, 429 or 403 (Retry-After) at random", run: true,
		measured: fmt.Sprintf("%.1f%% of %d requests outside the outage", 100*rate, total), bound: "≥ 30%", pass: rate >= 0.30}
}

// faults counts the answers of the error fault (every status it picks).
func faults(st app.Stats) int {
	n := 0
	for _, s := range errorStatuses() {
		n += st.FaultAnswers[s]
	}
	return n
}

func (e *environment) outageRow(r *runRecord) row {
	total := r.down[1].Requests - r.down[0].Requests
	down := r.down[1].FaultAnswers[503] - r.down[0].FaultAnswers[503]
	return row{name: "GitHub was fully down once (every REST request answered 503)", run: true,
		measured: fmt.Sprintf("%s; %d requests, %d answered 503", r.outageEnd.Sub(r.outageStart).Round(time.Second), total, down),
		bound:    fmt.Sprintf("%s, all failed", e.cfg.outage), pass: down == total && r.outageEnd.Sub(r.outageStart) >= e.cfg.outage}
}

func (e *environment) paginationRow(f facts) row {
	return row{name: "runner listings were paginated while runners came and went", run: true,
		measured: fmt.Sprintf("%d pages served, %d of them after a first page (%d runners per page)",
			f.stats.RunnerPages, f.stats.RunnerLaterPages, e.cfg.pageSize),
		bound: "> 0 later pages", pass: f.stats.RunnerLaterPages > 0}
}

func (e *environment) ownCrashesRow(f facts) row {
	rw := row{name: "corral never exited on its own (only kills and failpoints ended it)", bound: "0"}
	n := 0
	for _, x := range f.exits {
		if x.cause == exitOther {
			n++
			rw.details = append(rw.details, fmt.Sprintf("%s exited with code %d at %s (see logs/%s.log)", x.replica, x.code, clock(x.at), x.replica))
		}
	}
	rw.measured, rw.pass = fmt.Sprint(n), n == 0
	return rw
}

func (e *environment) lostJobsRow(f facts) row {
	rw := row{name: "no job lost to a busy runner's pod going away", bound: "0"}
	for _, j := range f.jobs {
		if j.Lost {
			rw.details = append(rw.details, fmt.Sprintf("job %d (%s) lost: the pod of its busy runner %s went away at %s",
				j.ID, strings.Join(j.Labels, ","), j.Runner, clockp(j.CompletedAt)))
		}
	}
	rw.measured, rw.pass = fmt.Sprint(len(rw.details)), len(rw.details) == 0
	return rw
}

func (e *environment) completedRow(r *runRecord, f facts) row {
	rw := row{name: "every queued job got a runner and completed", bound: fmt.Sprintf("all %d queued", r.queued)}
	done := 0
	for _, j := range f.jobs {
		if j.State == app.JobCompleted && j.Runner != "" && !j.Lost {
			done++
			continue
		}
		rw.details = append(rw.details, fmt.Sprintf("job %d (%s, queued %s): %s, runner %q", j.ID, strings.Join(j.Labels, ","), clock(j.QueuedAt), j.State, j.Runner))
	}
	took := "never drained"
	if !r.drained.IsZero() {
		took = "drained " + r.drained.Sub(r.churnEnd).Round(time.Second).String() + " after the churn"
	}
	rw.measured = fmt.Sprintf("%d of %d (%s)", done, len(f.jobs), took)
	rw.pass = done == len(f.jobs) && len(f.jobs) == r.queued
	return rw
}

// podless are the spans in which a registration existed without a live pod of its name.
func podless(reg app.RegistrationRecord, now time.Time) []interval {
	end := reg.RemovedAt
	if end.IsZero() {
		end = now
	}
	var out []interval
	first := end
	if !reg.PodSeenAt.IsZero() && reg.PodSeenAt.Before(end) {
		first = reg.PodSeenAt
	}
	if first.After(reg.CreatedAt) {
		out = append(out, interval{reg.CreatedAt, first})
	}
	if gone := reg.PodGoneAt; !reg.PodSeenAt.IsZero() && !gone.IsZero() && gone.Before(end) {
		out = append(out, interval{latest(gone, reg.CreatedAt), end})
	}
	return out
}

// faultRetries is the forge backoff the removal of an orphan may have to sit out while
// GitHub answers errors at random: five failed attempts in a row (1+2+4+8+16 s), which at a
// 40% error rate happens to one removal in a hundred.
const faultRetries = 31 * time.Second

// outageBackoff is the forge backoff an outage of d leaves a pool in once it ends: its
// failed attempts in a row carry over, so the first attempt after it comes up to one
// backoff later, and one more failure under the random errors doubles that.
func outageBackoff(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return controller.ForgeBackoff(int32(controller.ForgeAttemptsWithin(d)) + 1)
}

func (e *environment) podlessDuringRow(r *runRecord, f facts) row {
	bound := e.cfg.orphanGrace + e.cfg.sweep + faultRetries + slack
	after := outageBackoff(e.cfg.outage)
	excused := merge(append(e.leader.gaps(), interval{r.outageStart, r.outageEnd.Add(after)}))
	rw := row{name: "no registration without a pod past the grace period, during the run",
		bound: fmt.Sprintf("none podless > %s (grace %s + sweep %s + %s of backoff under random errors + %s); the outage, the %s of backoff it leaves and leaderless time not counted",
			bound, e.cfg.orphanGrace, e.cfg.sweep, faultRetries, slack, after)}
	worst := time.Duration(0)
	for _, reg := range f.regs {
		for _, iv := range podless(reg, r.calm) {
			eff := iv.to.Sub(iv.from) - overlap(iv, excused)
			worst = max(worst, eff)
			if eff > bound {
				rw.details = append(rw.details, fmt.Sprintf("%s: no pod for %s (%s to %s, %s not counted); %s", reg.Name,
					eff.Round(time.Second), clock(iv.from), clock(iv.to), (iv.to.Sub(iv.from)-eff).Round(time.Second), story(reg)))
			}
		}
	}
	rw.measured = fmt.Sprintf("%d podless spans over the bound; longest %s", len(rw.details), worst.Round(100*time.Millisecond))
	rw.pass = len(rw.details) == 0
	return rw
}

func (e *environment) podlessAtEndRow(f facts) row {
	rw := row{name: "no registration without a pod once the run calmed down (grace + sweep passed)", bound: "0"}
	for _, reg := range f.regs {
		if reg.RemovedAt.IsZero() && (reg.PodSeenAt.IsZero() || !reg.PodGoneAt.IsZero()) {
			rw.details = append(rw.details, reg.Name+": "+story(reg))
		}
	}
	rw.measured, rw.pass = fmt.Sprint(len(rw.details)), len(rw.details) == 0
	return rw
}

// story tells a registration's life in a few words.
func story(reg app.RegistrationRecord) string {
	s := fmt.Sprintf("registered (%s) %s", reg.Via, clock(reg.CreatedAt))
	if reg.PodSeenAt.IsZero() {
		s += ", no pod ever"
	} else {
		s += ", pod seen " + clock(reg.PodSeenAt)
	}
	if !reg.PodGoneAt.IsZero() {
		s += ", pod gone " + clock(reg.PodGoneAt)
	}
	if reg.RemovedBy != "" {
		s += ", removed (" + reg.RemovedBy + ") " + clock(reg.RemovedAt)
	} else {
		s += ", still registered"
	}
	return s
}

func (e *environment) maxRunnersRow() row {
	rw := row{name: "never more live runner pods of a pool than its maxRunners (API server watch)"}
	var parts, bounds []string
	for _, p := range e.cfg.pools {
		pk := e.pods.peak(p.name)
		parts = append(parts, fmt.Sprintf("%s %d", p.name, pk.n))
		bounds = append(bounds, fmt.Sprintf("%s %d", p.name, p.maxRunners))
		if pk.n > int(p.maxRunners) {
			rw.details = append(rw.details, fmt.Sprintf("%s had %d live pods at %s: %s", p.name, pk.n, clock(pk.at), strings.Join(pk.pods, " ")))
		}
	}
	if err := e.pods.broken(); err != nil {
		rw.details = append(rw.details, err.Error()+": the peak may be missed")
	}
	rw.measured, rw.bound, rw.pass = strings.Join(parts, ", "), "≤ "+strings.Join(bounds, ", "), len(rw.details) == 0
	return rw
}

func (e *environment) jitRow(r *runRecord, f facts) row {
	jit := f.stats.Registrations[githubtest.ViaJIT]
	minIdle := 0
	for _, p := range e.cfg.pools {
		minIdle += int(p.minIdle)
	}
	crashes := 0
	for _, x := range f.exits {
		if x.cause != exitStopped {
			crashes++
		}
	}
	bound := r.queued + minIdle + crashes
	return row{name: "JIT registrations ≤ jobs + minIdle + crashes",
		measured: fmt.Sprintf("%d JIT registrations (successful generate-jitconfig answers)", jit),
		bound:    fmt.Sprintf("%d = %d jobs + %d minIdle + %d crashes (SIGKILLs, failpoint and other exits)", bound, r.queued, minIdle, crashes),
		pass:     jit <= bound}
}

// outageRequestsRow bounds each credential's GitHub requests in the outage by the
// controller's backoff: per pool, the first failing attempt may have a creation batch in
// flight (CreateConcurrency requests), every later attempt sends one request
// (ForgeAttemptsWithin the outage); the leader's delivery recovery reads the log once per
// interval. Both pools use the same App.
func (e *environment) outageRequestsRow(r *runRecord) row {
	attempts := controller.ForgeAttemptsWithin(e.cfg.outage)
	pools := len(e.cfg.pools)
	recovery := int(e.cfg.outage/recoveryInterval) + 1
	limit := pools*(controller.DefaultCreateConcurrency+attempts-1) + recovery
	rw := row{name: "GitHub requests during the outage, per credential (exponential backoff)",
		bound: fmt.Sprintf("≤ %d each = %d pools × (%d in flight + %d more attempts) + %d delivery-log reads",
			limit, pools, controller.DefaultCreateConcurrency, attempts-1, recovery)}
	byCred := map[string]int{}
	total := 0
	for _, c := range outageCalls(r) {
		byCred[c.credential] += c.n
		total += c.n
	}
	worst, worstCred := 0, ""
	for cred, n := range byCred {
		if n > worst {
			worst, worstCred = n, cred
		}
		if n > limit {
			rw.details = append(rw.details, fmt.Sprintf("%s made %d requests in the %s outage", cred, n, e.cfg.outage))
		}
	}
	rw.measured = fmt.Sprintf("%d in all; at most %d (%s)", total, worst, worstCred)
	rw.pass = len(rw.details) == 0
	return rw
}

// credCalls is one credential's requests to one endpoint.
type credCalls struct {
	credential, endpoint string
	n                    int
}

// outageCalls are the requests of each credential and endpoint in the outage, most first.
func outageCalls(r *runRecord) []credCalls {
	var out []credCalls
	for cred, byEndpoint := range r.callsAfter {
		for ep, n := range byEndpoint {
			if d := n - r.callsBefore[cred][ep]; d > 0 {
				out = append(out, credCalls{cred, ep, d})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n > out[j].n })
	return out
}

// outageWritesRow bounds the controller's status writes in the outage: one per failed
// attempt (ForgeAttemptsWithin the outage: the backoff is persisted there), one per change
// of its inputs (each change of one of the pool's pods, each webhook write of its demand,
// status.demand), and entering and leaving the outage.
func (e *environment) outageWritesRow(r *runRecord) row {
	attempts := controller.ForgeAttemptsWithin(e.cfg.outage)
	rw := row{name: "RunnerPool status writes during the outage, per pool (exponential backoff)",
		bound: fmt.Sprintf("controller ≤ %d attempts + pod changes + webhook writes + 2, each pool", attempts)}
	var parts []string
	for _, p := range e.cfg.pools {
		c := e.writes.count(p.name, r.outageStart, r.outageEnd)
		changes := e.pods.changes(p.name, r.outageStart, r.outageEnd)
		limit := attempts + changes + c[writerWebhook] + 2
		parts = append(parts, fmt.Sprintf("%s: controller %d (bound %d), %d pod changes, webhook %d, other %d",
			p.name, c[writerController], limit, changes, c[writerWebhook], c[writerOther]))
		if c[writerController] > limit {
			rw.details = append(rw.details, fmt.Sprintf("the controller wrote %s's status %d times in %s, while its pods changed %d times and its demand %d times",
				p.name, c[writerController], e.cfg.outage, changes, c[writerWebhook]))
		}
	}
	if err := e.writes.broken(); err != nil {
		rw.details = append(rw.details, err.Error()+": writes may be missed")
	}
	rw.measured, rw.pass = strings.Join(parts, "; "), len(rw.details) == 0
	return rw
}

// unrecovered returns the GUIDs whose every attempt failed and that Corral's recovery never
// read back from the delivery log (replay) nor had redelivered successfully.
func unrecovered(all []githubtest.Delivery) []string {
	ok := map[string]bool{}
	for _, d := range all {
		ok[d.GUID] = ok[d.GUID] || d.Succeeded() || d.Fetched > 0
	}
	var out []string
	for guid, good := range ok {
		if !good {
			out = append(out, guid)
		}
	}
	sort.Strings(out)
	return out
}

func (e *environment) recoveryRow(f facts) row {
	failed := map[string]bool{}
	for _, d := range f.deliveries {
		if !d.Redelivery && !d.Succeeded() {
			failed[d.GUID] = true
		}
	}
	missing := unrecovered(f.deliveries)
	rw := row{name: "every failed webhook delivery recovered from the App's delivery log by the leader", bound: "all",
		measured: fmt.Sprintf("%d of %d failed deliveries (of %d) recovered", len(failed)-len(missing), len(failed), len(f.deliveries)),
		pass:     len(missing) == 0}
	for _, guid := range missing {
		rw.details = append(rw.details, "delivery "+guid+" failed and was never read back nor redelivered")
	}
	return rw
}

// merge sorts intervals and joins those that overlap.
func merge(in []interval) []interval {
	var ivs []interval
	for _, iv := range in {
		if !iv.from.IsZero() && iv.to.After(iv.from) {
			ivs = append(ivs, iv)
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].from.Before(ivs[j].from) })
	var out []interval
	for _, iv := range ivs {
		if n := len(out); n > 0 && !iv.from.After(out[n-1].to) {
			out[n-1].to = latest(out[n-1].to, iv.to)
			continue
		}
		out = append(out, iv)
	}
	return out
}

// overlap is how much of iv the (merged) intervals cover.
func overlap(iv interval, merged []interval) time.Duration {
	total := time.Duration(0)
	for _, m := range merged {
		from, to := latest(iv.from, m.from), earliest(iv.to, m.to)
		if to.After(from) {
			total += to.Sub(from)
		}
	}
	return total
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// clock formats t as the run's log lines do.
func clock(t time.Time) string { return t.Format("15:04:05.0") }

func clockp(t *time.Time) string {
	if t == nil {
		return "?"
	}
	return clock(*t)
}

// formatCounts renders {a: 2, b: 1} as "(a 2, b 1)", sorted; empty for none.
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
