//go:build chaos

package main

import (
	"testing"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestPodlessSpans(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	rec := func(created, seen, gone, removed int) app.RegistrationRecord {
		r := app.RegistrationRecord{Registration: githubtest.Registration{Name: "r", CreatedAt: at(created)}}
		if seen >= 0 {
			r.PodSeenAt = at(seen)
		}
		if gone >= 0 {
			r.PodGoneAt = at(gone)
		}
		if removed >= 0 {
			r.RemovedAt = at(removed)
		}
		return r
	}
	now := at(100)
	for _, tc := range []struct {
		name string
		reg  app.RegistrationRecord
		want []interval
	}{
		{"pod at once, job done, removed before the pod went", rec(0, 0, 30, 29), nil},
		{"pod a second later", rec(0, 1, 30, 29), []interval{{at(0), at(1)}}},
		{"crash before the pod, swept", rec(0, -1, -1, 25), []interval{{at(0), at(25)}}},
		{"crash before the pod, still there", rec(0, -1, -1, -1), []interval{{at(0), now}}},
		{"pod deleted, registration left", rec(0, 0, 40, 55), []interval{{at(40), at(55)}}},
		{"pod gone, still registered", rec(0, 0, 40, -1), []interval{{at(40), now}}},
	} {
		got := podless(tc.reg, now)
		if len(got) != len(tc.want) {
			t.Errorf("%s: podless = %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if !got[i].from.Equal(tc.want[i].from) || !got[i].to.Equal(tc.want[i].to) {
				t.Errorf("%s: podless = %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}

func TestMergeAndOverlap(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	merged := merge([]interval{{at(20), at(30)}, {at(0), at(5)}, {at(25), at(40)}, {at(50), at(50)}, {}})
	if len(merged) != 2 || !merged[1].from.Equal(at(20)) || !merged[1].to.Equal(at(40)) {
		t.Fatalf("merge = %v, want [0,5) and [20,40)", merged)
	}
	if got := overlap(interval{at(3), at(30)}, merged); got != 12*time.Second {
		t.Errorf("overlap = %s, want 12s (2s + 10s)", got)
	}
}

func TestLeaderKillsAvoidTheOutage(t *testing.T) {
	for _, size := range []string{"full", "smoke"} {
		cfg, err := parseFlags([]string{"-size", size})
		if err != nil {
			t.Fatal(err)
		}
		kills := leaderKillTimes(cfg)
		if len(kills) != cfg.leaderKills {
			t.Fatalf("%s: %d leader kills planned, want %d", size, len(kills), cfg.leaderKills)
		}
		for _, k := range kills {
			if k > cfg.outageAt-leaseDuration && k < cfg.outageAt+cfg.outage || k <= 0 || k >= cfg.churn {
				t.Errorf("%s: a leader kill at %s falls in the outage (%s from %s) or outside the churn (%s)", size, k, cfg.outage, cfg.outageAt, cfg.churn)
			}
		}
	}
}
