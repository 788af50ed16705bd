package autoscale

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestParseWorkflowJob(t *testing.T) {
	payload := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{
		Action: "in_progress", ID: 42, Labels: []string{"self-hosted", "gpu"}, RunnerName: "p-abc123-xyz12",
		Repository: "Acme/App", Host: "GHES.example.com", Enterprise: "big",
	})
	ev, known, err := parseWorkflowJob(payload)
	if err != nil || !known {
		t.Fatalf("parse: %v (known %v)", err, known)
	}
	want := Event{Action: "in_progress", State: corralv1.JobInProgress, JobID: 42, Labels: []string{"self-hosted", "gpu"},
		RunnerName: "p-abc123-xyz12", Repository: "Acme/App", Owner: "Acme", Enterprise: "big", Host: "ghes.example.com"}
	if ev.Action != want.Action || ev.State != want.State || ev.JobID != want.JobID || strings.Join(ev.Labels, ",") != "self-hosted,gpu" ||
		ev.RunnerName != want.RunnerName || ev.Repository != want.Repository || ev.Owner != want.Owner ||
		ev.Enterprise != want.Enterprise || ev.Host != want.Host {
		t.Errorf("event = %+v, want %+v", ev, want)
	}

	for _, action := range []string{"queued", "waiting", "completed"} {
		if _, known, err := parseWorkflowJob(githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: action, ID: 1})); err != nil || !known {
			t.Errorf("action %s: %v, known %v", action, err, known)
		}
	}
	if _, known, err := parseWorkflowJob(githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "requested", ID: 1})); err != nil || known {
		t.Errorf("unknown action: %v, known %v; want ignored without error", err, known)
	}
	long := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "in_progress", ID: 1, RunnerName: strings.Repeat("r", 65)})
	if ev, _, _ := parseWorkflowJob(long); ev.RunnerName != "" {
		t.Error("a runner name longer than the status field allows was kept")
	}

	bad := []string{``, `[]`, `{"action":"queued"}`, `{"action":"queued","workflow_job":{"id":0},"repository":{"full_name":"a/b"}}`,
		`{"action":"queued","workflow_job":{"id":1}}`, `{"action":"queued","workflow_job":{"id":1},"repository":{"full_name":"nameonly"}}`,
		`{"action":"queued","workflow_job":{"id":"1"},"repository":{"full_name":"a/b"}}`}
	for _, b := range bad {
		if _, _, err := parseWorkflowJob([]byte(b)); !errors.Is(err, errBadPayload) {
			t.Errorf("payload %q: err %v, want errBadPayload", b, err)
		}
	}
}

func TestPayloadOf(t *testing.T) {
	json := []byte(`{"a":1}`)
	form := []byte(url.Values{"payload": {string(json)}}.Encode())
	cases := []struct {
		name, contentType string
		body              []byte
		want              string
		err               error
	}{
		{"json", "application/json", json, string(json), nil},
		{"json with charset", "application/json; charset=utf-8", json, string(json), nil},
		{"form", "application/x-www-form-urlencoded", form, string(json), nil},
		{"form without payload", "application/x-www-form-urlencoded", []byte("other=1"), "", errBadPayload},
		{"form that does not parse", "application/x-www-form-urlencoded", []byte("payload=%zz"), "", errBadPayload},
		{"text", "text/plain", json, "", errContentType},
		{"none", "", json, "", errContentType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payloadOf(tc.contentType, tc.body)
			if !errors.Is(err, tc.err) || (err == nil && string(got) != tc.want) {
				t.Errorf("payloadOf = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
