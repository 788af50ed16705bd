//go:build bench

package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// results is everything a run measured.
type results struct {
	cfg        config
	bursts     []burstResult
	idle       idleResult
	churn      churnResult
	scale      scaleResult
	mintsTotal int
	runTime    time.Duration
}

const mib = 1 << 20

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func sortDurations(ds []time.Duration) { sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] }) }

// print writes the tables as markdown.
func (r *results) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\n## Corral benchmark (%s size, GitHub API latency %s, job duration %s, run took %s)\n\n",
		c.size, c.latency, c.jobDuration, r.runTime.Round(time.Second))
	if len(c.corralFlags) > 0 {
		fmt.Fprintf(w, "corral flags beyond its defaults: `%s`\n\n", strings.Join(c.corralFlags, " "))
	}

	fmt.Fprintln(w, "### 1. Burst scale-up (delivery -> runner pod created / Running)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | deliveries sent in | created p50 | p95 | p99 | Running p50 | p95 | p99 | time to N created | time to N Running | runners/s | limit-implied, 1 credential | 2 | 4 | 403/429 answers |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, b := range r.bursts {
		rate := 0.0
		if b.total > 0 {
			rate = float64(len(b.created)) / b.total.Seconds()
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %s | %.0f |\n", b.n, ms(b.sendSpan),
			ms(quantile(b.created, .5)), ms(quantile(b.created, .95)), ms(quantile(b.created, .99)),
			ms(quantile(b.running, .5)), ms(quantile(b.running, .95)), ms(quantile(b.running, .99)),
			secs(b.total), secs(b.totalRunning), rate, secs(limitBound(b.n, 1)), secs(limitBound(b.n, 2)), secs(limitBound(b.n, 4)), b.rejected)
	}

	fmt.Fprintln(w, "\n### 2. API cost per runner (full lifecycles: create, job, finish, pod removed)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "GitHub calls (fake GitHub's counts) and corral's own Kubernetes API writes (its client-go `rest_client_requests_total` by method), per runner that ran a job:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | runners | GitHub calls / runner | by endpoint (per runner) | API server writes / runner | by verb (per runner) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, b := range r.bursts {
		r.costRow(w, fmt.Sprintf("burst %d", b.n), b.n, b.calls, b.writes)
	}
	r.costRow(w, "churn", r.churn.created, r.churn.calls, r.churn.writes)
	fmt.Fprintf(w, "\nInstallation-token mints: %d over the whole %s run (one installation), %d during %s of churn (%s extrapolated linearly)."+
		" A token lives 1 h and is cached, so a run shorter than an hour cannot show a refresh: an hour of churn costs the refresh, about 1 mint.\n",
		r.mintsTotal, r.runTime.Round(time.Second), r.churn.mints, r.churn.duration, perHour(r.churn.mints, r.churn.duration))

	fmt.Fprintln(w, "\n### 3. Memory and CPU")
	fmt.Fprintln(w)
	s := r.scale
	fmt.Fprintln(w, "| state | RSS | heap in use | goroutines | CPU | Kubernetes requests | GitHub calls |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| nothing to do (%s, after the first burst) | | | | %.2f s | %.0f (%.0f writes) | %d |\n",
		r.idle.window, r.idle.cpu, r.idle.requests, r.idle.writes, r.idle.calls["total"])
	fmt.Fprintf(w, "| %d runner pods among %d unrelated pods, steady (%s) | %.1f MiB | %.1f MiB | %.0f | %.2f s | %.0f | %.0f |\n",
		s.runners, s.others, s.steadyWindow, s.rss/mib, s.heap/mib, s.goroutines, s.cpuSteady, s.steadyRequests, s.steadyCall)
	fmt.Fprintf(w, "\nCreating the %d runners (relaxed limits, %s latency) took %s and %.1f s of corral CPU; the %d unrelated pods took %s to create.\n",
		s.runners, c.latency, s.runnersTook.Round(time.Second), s.cpuRunnersUp, s.others, s.othersTook.Round(time.Second))

	ch := r.churn
	fmt.Fprintf(w, "\n### 4. Churn: %.0f jobs/min for %s (one installation, GitHub's limits)\n\n", ch.rate, ch.duration)
	fmt.Fprintf(w, "%d jobs queued, %d runner pods created; queue -> pod created p50 %s, p99 %s; corral RSS %.1f -> %.1f MiB, goroutines %.0f -> %.0f;"+
		" GitHub 403/429 answers to corral: %.0f.\n\n", ch.queued, ch.created, ms(quantile(ch.latency, .5)), ms(quantile(ch.latency, .99)),
		ch.rssStart/mib, ch.rssEnd/mib, ch.gorStart, ch.gorEnd, ch.rejected)
	fmt.Fprintln(w, "| minute | jobs | queue -> pod p50 | p99 |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for i, m := range ch.perMinute {
		fmt.Fprintf(w, "| %d | %d | %s | %s |\n", i+1, m.jobs, ms(m.p50), ms(m.p99))
	}
	r.printTargets(w)
}

func (r *results) costRow(w io.Writer, phase string, runners int, cl calls, writes map[string]float64) {
	if runners == 0 {
		return
	}
	var eps, verbs []string
	total, wtotal := 0, 0.0
	for ep, n := range cl {
		if ep == "total" {
			continue
		}
		total += n
		eps = append(eps, fmt.Sprintf("%s: %.2f", ep, float64(n)/float64(runners)))
	}
	for v, n := range writes {
		wtotal += n
		verbs = append(verbs, fmt.Sprintf("%s: %.2f", v, n/float64(runners)))
	}
	sort.Strings(eps)
	sort.Strings(verbs)
	fmt.Fprintf(w, "| %s | %d | %.2f | %s | %.2f | %s |\n", phase, runners, float64(total)/float64(runners),
		strings.Join(eps, "<br>"), wtotal/float64(runners), strings.Join(verbs, ", "))
}

func perHour(n int, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f mints/h", float64(n)/d.Hours())
}

// printTargets prints the targets with the measured values.
func (r *results) printTargets(w io.Writer) {
	fmt.Fprintln(w, "\n### 5. Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | met |")
	fmt.Fprintln(w, "|---|---|---|")
	met := map[bool]string{true: "met", false: "**not met**"}
	for _, b := range r.bursts {
		if b.n <= 80 {
			p99 := quantile(b.created, .99)
			fmt.Fprintf(w, "| delivery -> pod created p99 <= 1 s, N=%d, %s latency | %s | %s |\n", b.n, r.cfg.latency, ms(p99), met[p99 <= time.Second && len(b.created) == b.n])
			continue
		}
		bound := limitBound(b.n, 1)
		fmt.Fprintf(w, "| N=%d within 5%% of the limit-implied %s | %s (%+.1f%%) | %s |\n", b.n, secs(bound), secs(b.total),
			100*(b.total.Seconds()-bound.Seconds())/bound.Seconds(), met[b.total.Seconds() <= bound.Seconds()*1.05])
	}
	runners, jit, other := 0, 0, 0
	for _, b := range r.bursts {
		runners += b.n
		for ep, n := range b.calls {
			switch ep {
			case "total", endpointAccessToken:
			case endpointOrgJIT:
				jit += n
			default:
				other += n
			}
		}
	}
	if runners > 0 {
		per := float64(jit+other) / float64(runners)
		fmt.Fprintf(w, "| exactly 1 GitHub call per runner that ran a job (bursts; token mints apart) | %.3f (%d JIT, %d other, %d runners) | %s |\n",
			per, jit, other, runners, met[jit == runners && other == 0])
	}
	allowed := int(math.Max(1, math.Ceil(r.runTime.Minutes()/50)))
	fmt.Fprintf(w, "| <= 1 token mint per installation per 50 min | %d in %s | %s |\n", r.mintsTotal, r.runTime.Round(time.Second), met[r.mintsTotal <= allowed])
	fmt.Fprintf(w, "| zero secondary-limit rejections in churn | %.0f | %s |\n", r.churn.rejected, met[r.churn.rejected == 0])
	s := r.scale
	fmt.Fprintf(w, "| RSS <= 80 MiB at %d runners among %d pods | %.1f MiB | %s |\n", s.runners, s.others, s.rss/mib, met[s.rss <= 80*mib])
	fmt.Fprintf(w, "| ~0 GitHub calls and ~0 CPU with nothing to do (%s) | %d calls, %.2f s CPU | %s |\n", r.idle.window,
		r.idle.calls["total"], r.idle.cpu, met[r.idle.calls["total"] == 0 && r.idle.cpu < 0.05*r.idle.window.Seconds()])
}
