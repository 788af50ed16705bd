package controller

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

// TestJobMetadata: label-safe values become labels as they are, everything else only an
// annotation; no value ever makes the patch invalid.
func TestJobMetadata(t *testing.T) {
	job := corralv1.JobAttribution{Runner: "aaaaa", JobID: 41, Repository: "acme/app", Workflow: "CI", RunID: 900, RunAttempt: 2,
		Job: "build", Sender: "octocat", StartedAt: t0}
	labels, annotations := jobMetadata(job)
	wantLabels := map[string]string{
		corralv1.LabelJobID: "41", corralv1.LabelJobRepository: "acme.app", corralv1.LabelJobWorkflow: "CI",
		corralv1.LabelJobRunID: "900", corralv1.LabelJobRunAttempt: "2", corralv1.LabelJobName: "build", corralv1.LabelJobSender: "octocat",
	}
	for k, v := range wantLabels {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	if annotations[corralv1.LabelJobRepository] != "acme/app" || annotations[corralv1.LabelJobName] != "build" {
		t.Errorf("annotations %v: want the exact values", annotations)
	}

	hostile := job
	hostile.Repository = "acme/" + strings.Repeat("r", 100) // 105 characters: too long for a label
	hostile.Workflow = "deploy; rm -rf /"
	hostile.Job = "test (ubuntu, 3.12)"
	hostile.Sender = "dependabot[bot]"
	labels, annotations = jobMetadata(hostile)
	for _, k := range []string{corralv1.LabelJobRepository, corralv1.LabelJobWorkflow, corralv1.LabelJobName, corralv1.LabelJobSender} {
		if v, ok := labels[k]; ok {
			t.Errorf("label %s = %q: a value that is no label value as it is must not be changed into one", k, v)
		}
		if annotations[k] == "" {
			t.Errorf("annotation %s missing", k)
		}
	}
	for k, v := range labels {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q invalid: %v", k, v, errs)
		}
	}
	if labels[corralv1.LabelJobID] != "41" {
		t.Errorf("the job ID is always a label: %v", labels)
	}
}

// TestPlanAttribution: a busy runner whose job the receiver named is attributed in the busy
// mark the reconcile writes anyway; an attributed pod is not patched again; a runner GitHub
// says is not busy is not attributed.
func TestPlanAttribution(t *testing.T) {
	pool := testPool(gen.WithMinIdle(1))
	job := corralv1.JobAttribution{Runner: "aaaaa", JobID: 41, Repository: "acme/app", StartedAt: t0}
	fresh := runnerFixture(pool, "aaaaa", 7)
	name := fresh.Name
	demand := Demand{BusyRunners: map[string]bool{name: true}, Jobs: map[string]corralv1.JobAttribution{name: job}}

	p := planPool(observed(pool, demand, fresh), testOptions)
	if len(p.marks) != 1 || !strings.HasPrefix(p.marks[0].value, "claimed:") || p.marks[0].job == nil || p.marks[0].job.JobID != 41 {
		t.Fatalf("marks %+v: want one claim carrying job 41", p.marks)
	}

	claimed := runnerFixture(pool, "aaaaa", 7, func(p *corev1.Pod) { p.Annotations[AnnotationBusy] = busyClaim(t0.Add(-time.Second)) })
	p = planPool(observed(pool, demand, claimed), testOptions)
	if len(p.marks) != 1 || p.marks[0].value != claimed.Annotations[AnnotationBusy] || p.marks[0].job == nil {
		t.Fatalf("marks %+v: a claimed pod not yet attributed gets the job, its mark unchanged", p.marks)
	}

	done := runnerFixture(pool, "aaaaa", 7, func(p *corev1.Pod) {
		p.Annotations[AnnotationBusy] = busyClaim(t0.Add(-time.Second))
		p.Annotations[corralv1.LabelJobID] = "41"
	})
	if p = planPool(observed(pool, demand, done), testOptions); len(p.marks) != 0 {
		t.Errorf("marks %+v: an attributed pod is not patched again", p.marks)
	}
}

// TestJobNote: the longest names still make an Event the API server takes (1 KiB), cut at a
// character boundary.
func TestJobNote(t *testing.T) {
	long := strings.Repeat("é", corralv1.MaxAttributionValue/2)
	note := jobNote(corralv1.JobAttribution{JobID: 1, Job: long, Workflow: long, Repository: "acme/" + strings.Repeat("r", 251), Sender: long})
	if len(note) > maxEventNote || !utf8.ValidString(note) || !strings.HasSuffix(note, "...") {
		t.Errorf("note of %d bytes (valid UTF-8: %v): %.80q", len(note), utf8.ValidString(note), note)
	}
	if short := jobNote(corralv1.JobAttribution{JobID: 41, Job: "build", Repository: "acme/app"}); !strings.Contains(short, `job 41 ("build") of acme/app`) {
		t.Errorf("note %q", short)
	}
}
