package autoscale

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
)

// TestAttributionText: whatever a workflow's author names a job, what reaches the pool's
// status is printable, valid UTF-8 and bounded, so the API server never refuses the write.
func TestAttributionText(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	for _, tc := range []struct{ in, want string }{
		{"build (ubuntu, 3.12)", "build (ubuntu, 3.12)"},
		{"line one\nline two\r\t", "line oneline two"},
		{"\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"evil\u202egnp.exe", "evilgnp.exe"}, // a bidi override shows text reversed
		{"zero\u200bwidth", "zerowidth"},     // zero-width space
		{"bad \xff\xfe utf8", "bad  utf8"},   // invalid bytes dropped
		{"  padded  ", "padded"},
		{long, strings.Repeat("é", corralv1.MaxAttributionValue/2)},
	} {
		got := corralv1.AttributionText(tc.in)
		if got != tc.want {
			t.Errorf("AttributionText(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || len(got) > corralv1.MaxAttributionValue {
			t.Errorf("AttributionText(%q) = %q: invalid or too long (%d bytes)", tc.in, got, len(got))
		}
	}
}

// TestParseIdentity: an in_progress delivery names the job; others carry no identity.
func TestParseIdentity(t *testing.T) {
	job := githubtest.WorkflowJob{Action: "in_progress", ID: 7, RunnerName: testPrefix + "abcde", Repository: "acme/app",
		Name: "test\n(linux)", WorkflowName: "CI", Sender: "dependabot[bot]", RunID: 99, RunAttempt: 2}
	ev, ok, err := parseWorkflowJob(githubtest.WorkflowJobPayload(job))
	if err != nil || !ok {
		t.Fatalf("parse: %v %v", ok, err)
	}
	want := JobIdentity{Workflow: "CI", RunID: 99, RunAttempt: 2, Job: "test(linux)", Sender: "dependabot[bot]"}
	if ev.Identity != want {
		t.Errorf("identity %+v, want %+v", ev.Identity, want)
	}
	job.Action = "queued"
	if ev, _, _ := parseWorkflowJob(githubtest.WorkflowJobPayload(job)); ev.Identity != (JobIdentity{}) {
		t.Errorf("queued delivery carries an identity: %+v", ev.Identity)
	}
	hostile, _ := json.Marshal(map[string]any{
		"action": "in_progress",
		"workflow_job": map[string]any{"id": 8, "labels": []string{}, "runner_name": testPrefix + "abcde", "run_id": -5,
			"run_attempt": 99999999999, "name": strings.Repeat("x", 5000), "workflow_name": "\u0000\u0007"},
		"repository": map[string]any{"full_name": "acme/app", "owner": map[string]any{"login": "acme"}},
		"sender":     map[string]any{"login": strings.Repeat("\u202e", 100)},
	})
	ev, ok, err = parseWorkflowJob(hostile)
	if err != nil || !ok {
		t.Fatalf("hostile identity must not make the delivery unusable: %v %v", ok, err)
	}
	if ev.Identity.RunID != 0 || ev.Identity.RunAttempt != 0 || ev.Identity.Workflow != "" || ev.Identity.Sender != "" ||
		len(ev.Identity.Job) != corralv1.MaxAttributionValue {
		t.Errorf("hostile identity kept as %+v", ev.Identity)
	}
}

// TestAttribute: the pool's attributions follow its running jobs.
func TestAttribute(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	own, other := testPrefix+"abcde", "other-0f0f0f-abcde"
	started := func(id int64, runner string, at time.Time) Event {
		e := ev(id, "in_progress", runner, at)
		e.Identity = JobIdentity{Workflow: "ci", Job: "build", RunID: id * 10, RunAttempt: 1, Sender: "octocat"}
		return e
	}
	running := func(id int64, suffix string) corralv1.DemandEntry {
		return corralv1.DemandEntry{ID: id, State: corralv1.JobInProgress, Runner: suffix, At: t0}
	}
	got := attribute(nil, []Event{started(1, own, t0), started(2, other, t0)}, []corralv1.DemandEntry{running(1, "abcde")}, testPrefix, t0)
	if len(got) != 1 || got[0].JobID != 1 || got[0].Runner != "abcde" || got[0].Repository != "acme/app" || got[0].Job != "build" ||
		got[0].RunID != 10 || got[0].Sender != "octocat" {
		t.Fatalf("attributions %+v: want job 1 by abcde only (job 2 ran on another pool's runner)", got)
	}
	// A redelivery with other words changes nothing: the first in_progress names the job.
	again := started(1, own, t0.Add(time.Second))
	again.Identity.Job = "renamed"
	if next := attribute(got, []Event{again}, []corralv1.DemandEntry{running(1, "abcde")}, testPrefix, t0.Add(time.Second)); next[0].Job != "build" {
		t.Errorf("a redelivery renamed the job: %+v", next)
	}
	// Completed: the job leaves the list.
	if next := attribute(got, nil, []corralv1.DemandEntry{{ID: 1, State: corralv1.JobCompleted, At: t0}}, testPrefix, t0); next != nil {
		t.Errorf("a completed job is still attributed: %+v", next)
	}
	// Older than the TTL: gone.
	if next := attribute(got, nil, []corralv1.DemandEntry{running(1, "abcde")}, testPrefix, t0.Add(corralv1.AttributionTTL+time.Second)); next != nil {
		t.Errorf("an attribution outlived its TTL: %+v", next)
	}
	// Many running jobs: all kept, newest first, the same order every time; what the
	// status holds is the newest that fit in MaxAttributionBytes.
	const many = 300
	var events []Event
	var entries []corralv1.DemandEntry
	for i := range many {
		suffix := fmt.Sprintf("%05d", i)
		events = append(events, started(int64(i+1), testPrefix+suffix, t0.Add(time.Duration(i)*time.Second)))
		entries = append(entries, running(int64(i+1), suffix))
	}
	now := t0.Add(time.Hour / 12)
	all := attribute(nil, events, entries, testPrefix, now)
	if len(all) != many || all[0].JobID != many || all[len(all)-1].JobID != 1 {
		t.Fatalf("attributions: %d, newest %d, oldest %d; want %d from job %d down to 1", len(all), all[0].JobID, all[len(all)-1].JobID, many, many)
	}
	stored := corralv1.EncodeAttributions(all)
	kept := corralv1.DecodeAttributions(stored)
	if len(stored) > corralv1.MaxAttributionBytes || len(kept) == 0 || len(kept) == many || kept[0].JobID != many {
		t.Errorf("stored %d bytes, %d attributions from job %d: want at most %d bytes holding the newest, not all %d",
			len(stored), len(kept), kept[0].JobID, corralv1.MaxAttributionBytes, many)
	}
	for i, a := range kept {
		if a != all[i] {
			t.Fatalf("stored attribution %d is %+v, want the %dth newest %+v", i, a, i, all[i])
		}
	}
}
