//go:build chaos

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/corral-run/corral/test/harness"
)

// maxDetails is how many lines of a failure's details the report prints.
const maxDetails = 12

// printReport writes the run's report (markdown) to w and returns it.
func printReport(w io.Writer, r *runRecord, rows []row) string {
	var b bytes.Buffer
	cfg := r.cfg
	fmt.Fprintf(&b, "\n## Chaos run (%s), %s\n\n", cfg.size, r.started.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "- machine: %s; %s; Kubernetes %s (kwok nodes); corral %s (-tags failpoints)\n",
		machine(), runtime.Version(), harness.K8sVersion, gitDescribe())
	var ps []string
	for _, p := range cfg.pools {
		ps = append(ps, fmt.Sprintf("%s (minIdle %d, maxRunners %d)", p.name, p.minIdle, p.maxRunners))
	}
	fmt.Fprintf(&b, "- %d jobs of %s over %s into %s; two replicas with leader election\n",
		r.queued, cfg.jobDuration, cfg.churn, strings.Join(ps, ", "))
	fmt.Fprintf(&b, "- %d random SIGKILLs and %d of the leader, restarts after 0.5-3 s; failpoints %s\n", cfg.kills, cfg.leaderKills, cfg.failpoints)
	fmt.Fprintf(&b, "- GitHub: %.0f%% of REST requests answered 500/502/503/429/403 (Retry-After 1s) during the churn; fully down (503) for %s from %s into it; %d runners per page\n",
		100*cfg.errorRate, cfg.outage, cfg.outageAt, cfg.pageSize)
	fmt.Fprintf(&b, "- corral --orphan-grace %s --sweep-interval %s --webhook-recovery-interval %s\n", cfg.orphanGrace, cfg.sweep, recoveryInterval)
	fmt.Fprintf(&b, "- took %s (churn %s, drain and calm %s)\n\n", r.finished.Sub(r.started).Round(time.Second),
		r.churnEnd.Sub(r.churnStart).Round(time.Second), r.calm.Sub(r.churnEnd).Round(time.Second))
	fmt.Fprintln(&b, "| # | invariant | measured | bound | verdict |")
	fmt.Fprintln(&b, "|---|---|---|---|---|")
	for i, rw := range rows {
		name := rw.name
		if rw.run {
			name = "(run) " + name
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", i+1, name, rw.measured, rw.bound, verdict(rw.pass))
	}
	for i, rw := range rows {
		if rw.pass || len(rw.details) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nFAIL %d, %s:\n", i+1, rw.name)
		for j, d := range rw.details {
			if j == maxDetails {
				fmt.Fprintf(&b, "  ... and %d more\n", len(rw.details)-maxDetails)
				break
			}
			fmt.Fprintf(&b, "  - %s\n", d)
		}
	}
	fmt.Fprintln(&b, "\nGitHub requests during the outage, by credential and endpoint:")
	fmt.Fprintln(&b, "\n| credential | endpoint | requests |\n|---|---|---|")
	for _, c := range outageCalls(r) {
		fmt.Fprintf(&b, "| %s | `%s` | %d |\n", c.credential, c.endpoint, c.n)
	}
	fmt.Fprintln(&b)
	_, _ = w.Write(b.Bytes())
	return b.String()
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "**FAIL**"
}

// machine describes the host: cores and kernel.
func machine() string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d cores, %s %s", runtime.NumCPU(), runtime.GOOS, strings.TrimSpace(string(kernel)))
}

// gitDescribe names the checkout's commit.
func gitDescribe() string {
	out, err := exec.CommandContext(context.Background(), "git", "-C", harness.RepoRoot(), "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
