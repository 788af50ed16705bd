package githubtest

import (
	"encoding/json"
	"strings"
	"time"
)

// WorkflowJob describes a workflow_job webhook event for WorkflowJobPayload.
type WorkflowJob struct {
	// Action is queued, waiting, in_progress or completed.
	Action string
	// ID is the job's ID.
	ID int64
	// Labels are the job's runs-on labels.
	Labels []string
	// RunnerName is the runner that took the job (in_progress, completed).
	RunnerName string
	// Repository is owner/name; "acme/app" when empty.
	Repository string
	// Host is the GitHub host; "github.com" when empty.
	Host string
	// Enterprise is the enterprise slug the payload names, if any.
	Enterprise string
	// InstallationID is the App installation the event came through, if any.
	InstallationID int64
	// Conclusion of a completed job; "success" when empty.
	Conclusion string
	// Name, WorkflowName and Sender: the job's name ("build"), its workflow's ("ci") and the
	// login of the event's sender ("octocat") when empty. RunID is ID*10 and RunAttempt 1
	// when 0.
	Name, WorkflowName, Sender string
	RunID                      int64
	RunAttempt                 int
}

// WorkflowJobPayload is a workflow_job payload shaped like GitHub's, for tests and demos
// that send deliveries (SendWebhook, DeliverAppEvent).
func WorkflowJobPayload(j WorkflowJob) []byte {
	repo := j.Repository
	if repo == "" {
		repo = "acme/app"
	}
	host := j.Host
	if host == "" {
		host = "github.com"
	}
	owner, name, _ := strings.Cut(repo, "/")
	now := time.Now().UTC().Format(time.RFC3339)
	status := map[string]string{"queued": "queued", "waiting": "waiting", "in_progress": "in_progress", "completed": "completed"}[j.Action]
	job := map[string]any{
		"id": j.ID, "run_id": or(j.RunID, j.ID*10), "run_attempt": or(j.RunAttempt, 1),
		"name": or(j.Name, "build"), "workflow_name": or(j.WorkflowName, "ci"), "head_branch": "main",
		"head_sha": "0000000000000000000000000000000000000000", "status": status, "conclusion": nil,
		"created_at": now, "started_at": now, "completed_at": nil, "labels": nonNil(j.Labels),
		"runner_id": nil, "runner_name": nil, "runner_group_id": nil, "runner_group_name": nil, "steps": []any{},
		"html_url": "https://" + host + "/" + repo + "/actions/runs/1/job/1",
	}
	if j.RunnerName != "" {
		job["runner_name"], job["runner_id"], job["runner_group_id"], job["runner_group_name"] = j.RunnerName, j.ID+1, 1, "Default"
	}
	if j.Action == "completed" {
		conclusion := j.Conclusion
		if conclusion == "" {
			conclusion = "success"
		}
		job["conclusion"], job["completed_at"] = conclusion, now
	}
	p := map[string]any{
		"action":       j.Action,
		"workflow_job": job,
		"repository": map[string]any{
			"id": 1296269, "name": name, "full_name": repo, "private": true, "html_url": "https://" + host + "/" + repo,
			"owner": map[string]any{"login": owner, "id": 1, "type": "Organization"},
		},
		"organization": map[string]any{"login": owner, "id": 1},
		"sender":       map[string]any{"login": or(j.Sender, "octocat"), "id": 2, "type": "User"},
	}
	if j.Enterprise != "" {
		p["enterprise"] = map[string]any{"slug": j.Enterprise, "id": 3}
	}
	if j.InstallationID != 0 {
		p["installation"] = map[string]any{"id": j.InstallationID}
	}
	b, _ := json.Marshal(p)
	return b
}

// or is v, or def when v is the zero value.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
