//go:build bench

package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
)

// results is everything a run measured.
type results struct {
	cfg                 config
	corralEnv, chartEnv []string
	profilesOn          bool
	bursts              []burstResult
	idle                idleResult
	warm                warmResult
	churn, limitChurn   churnResult
	scale               scaleResult
	pull                pullResult
	mintsTotal          map[int64]int // per installation, over the whole run
	apps                []app.AppInfo
	profiles            []profile
	runTime             time.Duration
}

const mib = 1 << 20

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func sortDurations(ds []time.Duration) { sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] }) }

// per is n per runner, two decimals; n itself when there is no runner.
func per(n float64, runners int) string {
	if runners == 0 {
		return fmt.Sprintf("%.0f", n)
	}
	return fmt.Sprintf("%.2f", n/float64(runners))
}

// print writes the tables as markdown.
func (r *results) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\n## Corral benchmark (%s size, GitHub API latency %s, job duration %s, run took %s)\n\n",
		c.size, c.latency, c.jobDuration, r.runTime.Round(time.Second))
	if len(c.corralFlags) > 0 {
		fmt.Fprintf(w, "corral flags beyond its defaults: `%s`\n\n", strings.Join(c.corralFlags, " "))
	}
	fmt.Fprintf(w, "corral's runtime environment: %s.\n", r.runtimeEnv())
	r.printBursts(w)
	r.printWarm(w)
	r.printGitHubCost(w)
	r.printWrites(w)
	r.printMemory(w)
	r.printChurn(w, "6. Churn at 90% of one installation's limit", r.churn)
	r.printChurn(w, "7. Churn at the limit", r.limitChurn)
	r.printProfiles(w)
	r.printTargets(w)
	r.printPull(w)
}

// runtimeEnv says which Go runtime variables corral ran with, and where they came from.
func (r *results) runtimeEnv() string {
	chart := "the chart (charts/corral, default values) sets no GOMEMLIMIT"
	if len(r.chartEnv) > 0 {
		chart = "the chart (charts/corral, default values) sets `" + strings.Join(r.chartEnv, " ") + "`"
	}
	if r.cfg.helm == "" {
		chart = "the chart was not rendered (no -helm)"
	}
	if len(r.corralEnv) == 0 {
		return chart + "; corral ran without GOMEMLIMIT"
	}
	return "`" + strings.Join(r.corralEnv, " ") + "` (" + chart + ")"
}

func (r *results) printBursts(w io.Writer) {
	fmt.Fprintln(w, "\n### 1. Burst scale-up (delivery -> runner pod created / Running)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The limit-implied bound is floor((N-1)/(80k)) minutes for k credentials (one GitHub App each, "+
		"`spec.github.additionalCredentialsSecretRefs`); every run is measured. 403/429: corral's count of such answers; "+
		"refusals: the fake's count of requests a rate limit refused.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | credentials | deliveries sent in | created p50 | p95 | p99 | Running p50 | p95 | p99 | time to N created | time to N Running | runners/s | limit-implied bound | vs bound | 403/429 answers | refusals | JIT calls per App |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, b := range r.bursts {
		rate := 0.0
		if b.total > 0 {
			rate = float64(len(b.created)) / b.total.Seconds()
		}
		vs := "-"
		if b.bound > 0 {
			vs = fmt.Sprintf("%+.1f%%", 100*(b.total.Seconds()-b.bound.Seconds())/b.bound.Seconds())
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %.0f | %d | %s |\n",
			b.n, b.credentials, ms(b.sendSpan),
			ms(quantile(b.created, .5)), ms(quantile(b.created, .95)), ms(quantile(b.created, .99)),
			ms(quantile(b.running, .5)), ms(quantile(b.running, .95)), ms(quantile(b.running, .99)),
			secs(b.total), secs(b.totalRunning), rate, secs(b.bound), vs, b.cost.rejected, b.cost.limited, jitSpread(b.cost.jitByApp))
	}
}

// jitSpread lists the JIT calls of each App that made any, e.g. "125 / 125 / 126 / 124".
func jitSpread(byApp []int) string {
	last := -1
	for i, n := range byApp {
		if n > 0 {
			last = i
		}
	}
	var parts []string
	for _, n := range byApp[:last+1] {
		parts = append(parts, fmt.Sprint(n))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " / ")
}

func (r *results) printWarm(w io.Writer) {
	wr := r.warm
	fmt.Fprintf(w, "\n### 2. Warm pool (minIdle %d, %d jobs one every %s)\n\n", wr.idle, wr.jobs, wr.interval)
	fmt.Fprintf(w, "%d of %d jobs taken, %d of them by a runner whose pod existed before the job was queued (an idle runner). "+
		"From the job's `in_progress` delivery (the fake's clock) to the replacement runner's pod created: p50 %s, p95 %s, p99 %s, max %s "+
		"(%d replacements created before that delivery count as 0; %d jobs got none within %s).\n",
		wr.taken, wr.jobs, wr.byExisting, ms(quantile(wr.replaced, .5)), ms(quantile(wr.replaced, .95)), ms(quantile(wr.replaced, .99)),
		ms(quantile(wr.replaced, 1)), wr.early, wr.missing, warmTimeout)
}

// phaseCost is one row of the cost tables.
type phaseCost struct {
	name string
	cost
}

func (r *results) phases() []phaseCost {
	var out []phaseCost
	for _, b := range r.bursts {
		name := fmt.Sprintf("burst %d", b.n)
		if b.credentials > 1 {
			name += fmt.Sprintf(", %d credentials", b.credentials)
		}
		out = append(out, phaseCost{name, b.cost})
	}
	out = append(out, phaseCost{"warm pool", r.warm.cost})
	out = append(out, phaseCost{fmt.Sprintf("churn %.0f/min", r.churn.rate), r.churn.cost})
	out = append(out, phaseCost{fmt.Sprintf("churn %.0f/min", r.limitChurn.rate), r.limitChurn.cost})
	return out
}

func (r *results) printGitHubCost(w io.Writer) {
	fmt.Fprintln(w, "\n### 3. GitHub API cost (the fake's counts: every request, rejected ones included)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | runners that ran a job | GitHub calls / runner | by endpoint (per runner) | token mints |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, p := range r.phases() {
		var eps []string
		for ep, n := range p.calls {
			if ep != "total" {
				eps = append(eps, fmt.Sprintf("%s: %s", ep, per(float64(n), p.runners)))
			}
		}
		sort.Strings(eps)
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d |\n", p.name, p.runners, per(float64(p.githubCalls()), p.runners), strings.Join(eps, "<br>"), sumMints(p.mints))
	}
	fmt.Fprintf(w, "| nothing to do (%s) | 0 | %d calls | | %d |\n", r.idle.window.Round(time.Second), r.idle.githubCalls(), sumMints(r.idle.mints))
	var mints []string
	for _, a := range r.apps {
		mints = append(mints, fmt.Sprintf("installation %d (%s): %d", a.InstallationID, a.SecretName, r.mintsTotal[a.InstallationID]))
	}
	fmt.Fprintf(w, "\nInstallation-token mints over the whole %s run: %s. A token lives 1 h and is cached, so a run shorter than an hour "+
		"cannot show a refresh; an installation's churn-phase rate: %s.\n", r.runTime.Round(time.Second), strings.Join(mints, ", "),
		perHour(sumMints(r.churn.cost.mints), r.churn.cost.window))
}

func sumMints(m map[int64]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func perHour(n int, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d in %s (%.1f/h extrapolated linearly)", n, d.Round(time.Second), float64(n)/d.Hours())
}

func (r *results) printWrites(w io.Writer) {
	fmt.Fprintln(w, "\n### 4. Kubernetes writes (the API server's audit log: corral's ServiceAccount, every write, by resource and verb)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per runner that ran a job. \"budget\" is every stored write but the pools' status (which has its own row below); "+
		"dry-run creates (`dryRun=All`: admission runs, nothing is stored) are counted apart; \"client-go\" is corral's own count of its "+
		"non-GET requests over the same window (`rest_client_requests_total`), a cross-check of the audit log (it includes the dry runs).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | runners | budget / runner | pods | secrets | runnerpools/status | events | other | dry runs / runner | failed | audit total / client-go |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	rows := r.phases()
	rows = append(rows, phaseCost{fmt.Sprintf("nothing to do (%s)", r.idle.window.Round(time.Second)), r.idle.cost})
	for _, p := range rows {
		wc := p.writes
		cells := make([]string, 0, len(resourceBuckets))
		for _, b := range resourceBuckets {
			cells = append(cells, verbCell(wc.stored[b], p.runners, b == resOther, wc.other))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %d | %d / %.0f |\n", p.name, p.runners, per(float64(wc.perRunner()), p.runners),
			strings.Join(cells, " | "), per(float64(wc.dryRuns()), p.runners), wc.failed, wc.total()+wc.dryRuns(), p.clientWrites)
	}
	fmt.Fprintln(w, "\nPool status writes (`runnerpools/status`), by field manager (the webhook receiver applies `status.demand` server-side as "+
		"`corral-webhook`; a merge patch names no manager). Min gap: the shortest time between two consecutive writes of the pool, any manager "+
		"(per manager in brackets). Per minute: the writes in each minute of the phase, by manager.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | pool | runners | writes | per runner | max in one minute | min gap | per minute |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, p := range r.phases() {
		for _, ps := range p.writes.poolStatuses(p.start) {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %s | %d | %s | %s |\n", p.name, ps.pool, p.runners, ps.writes, per(float64(ps.writes), p.runners),
				ps.maxPerMinute(), gaps(ps), minutes(ps))
		}
	}
}

// verbCell is one bucket's writes per runner by verb, e.g. "1.00 create, 1.00 delete".
func verbCell(byVerb map[string]int, runners int, other bool, resources map[string]int) string {
	if len(byVerb) == 0 {
		return "0"
	}
	var parts []string
	for v, n := range byVerb {
		parts = append(parts, per(float64(n), runners)+" "+v)
	}
	sort.Strings(parts)
	cell := strings.Join(parts, ", ")
	if other {
		var res []string
		for name, n := range resources {
			res = append(res, fmt.Sprintf("%s %d", name, n))
		}
		sort.Strings(res)
		cell += " (" + strings.Join(res, ", ") + ")"
	}
	return cell
}

func gaps(ps poolStatus) string {
	if ps.minGap == 0 {
		return "-"
	}
	var by []string
	for m, g := range ps.minGapBy {
		by = append(by, fmt.Sprintf("%s %s", m, g.Round(time.Millisecond)))
	}
	sort.Strings(by)
	return fmt.Sprintf("%s (%s)", ps.minGap.Round(time.Millisecond), strings.Join(by, "; "))
}

func minutes(ps poolStatus) string {
	var out []string
	for m, counts := range ps.perMinute {
		parts := make([]string, len(counts))
		for i, c := range counts {
			parts[i] = fmt.Sprint(c)
		}
		out = append(out, m+": "+strings.Join(parts, ", "))
	}
	sort.Strings(out)
	return strings.Join(out, "<br>")
}

func (r *results) printMemory(w io.Writer) {
	fmt.Fprintln(w, "\n### 5. Memory and CPU")
	fmt.Fprintln(w)
	s := r.scale
	fmt.Fprintln(w, "| state | RSS | heap in use | goroutines | CPU | Kubernetes requests (writes) | GitHub calls |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| nothing to do (%s, after the first burst) | | | | %.2f s | %.0f (%d) | %d |\n",
		r.idle.window.Round(time.Second), r.idle.cpu, r.idle.requests, r.idle.writes.total(), r.idle.githubCalls())
	fmt.Fprintf(w, "| %d runner pods among %d unrelated pods, steady (%s) | %.1f MiB | %.1f MiB | %.0f | %.2f s | %.0f (%d) | %.0f |\n",
		s.runners, s.others, s.steadyWindow, s.rss/mib, s.heap/mib, s.goroutines, s.cpuSteady, s.steadyRequests, s.steadyWrites, s.steadyCall)
	fmt.Fprintf(w, "\nCreating the %d runners (relaxed limits, %s latency) took %s, %.1f s of corral CPU and %.0f reconciles (%.1f per runner); the %d unrelated pods took %s to create. "+
		"Runtime environment: %s.\n", s.runners, r.cfg.latency, s.runnersTook.Round(time.Second), s.cpuRunnersUp, s.reconcilesUp, s.reconcilesUp/float64(max(s.runners, 1)), s.others,
		s.othersTook.Round(time.Second), r.runtimeEnv())
}

func (r *results) printChurn(w io.Writer, title string, ch churnResult) {
	fmt.Fprintf(w, "\n### %s: %.0f jobs/min for %s (pool %s, one installation, GitHub's limits)\n\n", title, ch.rate, ch.duration, ch.pool)
	change, rss, gor := ch.flatness()
	fmt.Fprintf(w, "%d jobs queued, %d runner pods created; queue -> pod created p50 %s, p99 %s; largest minute-over-minute p99 change %+.0f%%; "+
		"RSS %+.1f%%, goroutines %+.1f%% from the first minute's end to the last; GitHub 403/429 answers to corral: %.0f (fake's refusals: %d).\n\n",
		ch.queued, ch.created, ms(quantile(ch.latency, .5)), ms(quantile(ch.latency, .99)), 100*change, 100*rss, 100*gor, ch.cost.rejected, ch.cost.limited)
	fmt.Fprintln(w, "| minute | jobs | queue -> pod p50 | p99 | RSS at its end | goroutines |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for i, m := range ch.perMinute {
		rssCell, gorCell := "", ""
		if i+1 < len(ch.samples) {
			rssCell, gorCell = fmt.Sprintf("%.1f MiB", ch.samples[i+1].rss/mib), fmt.Sprintf("%.0f", ch.samples[i+1].goroutines)
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s |\n", i+1, m.jobs, ms(m.p50), ms(m.p99), rssCell, gorCell)
	}
	if len(ch.samples) > 0 {
		fmt.Fprintf(w, "\nAt the start: RSS %.1f MiB, %.0f goroutines.\n", ch.samples[0].rss/mib, ch.samples[0].goroutines)
	}
}
