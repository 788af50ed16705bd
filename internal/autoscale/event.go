package autoscale

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/url"
	"strings"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Event is a verified workflow_job delivery, reduced to what matching and the demand store
// need.
type Event struct {
	// Delivery is the X-GitHub-Delivery GUID.
	Delivery string
	// Action is the payload's action: queued, waiting, in_progress or completed.
	Action string
	// State is the job state the action moves to.
	State corralv1.JobState
	// JobID is GitHub's workflow job ID.
	JobID int64
	// Labels are the job's runs-on labels.
	Labels []string
	// RunnerName is the runner that took the job (in_progress, completed).
	RunnerName string
	// Repository is the job's repository, owner/name.
	Repository string
	// Owner is the repository's owner (user or organization).
	Owner string
	// Enterprise is the enterprise slug, when the payload names one.
	Enterprise string
	// Host is the GitHub host of the repository (from its html_url), lower-case.
	Host string
	// Identity names the job for attribution (in_progress deliveries).
	Identity JobIdentity
	// InstallationID is the GitHub App installation the delivery came through (0: not
	// through an App, e.g. an organization webhook).
	InstallationID int64
	// ReceivedAt is when Corral received the delivery.
	ReceivedAt time.Time
	// Vouch is who vouched for the delivery, and so which pools it may reach; set by the
	// handler after verification (or by the recovery). The zero value reaches no pool.
	Vouch Vouch
}

// errBadPayload marks a body that is not a usable workflow_job payload (400).
var errBadPayload = errors.New("bad payload")

// maxLabels bounds the runs-on labels read from a payload; GitHub allows far fewer.
const maxLabels = 100

// workflowJobPayload is the part of a workflow_job payload Corral reads.
type workflowJobPayload struct {
	Action      string `json:"action"`
	WorkflowJob *struct {
		ID           int64    `json:"id"`
		Labels       []string `json:"labels"`
		RunnerName   *string  `json:"runner_name"`
		RunID        int64    `json:"run_id"`
		RunAttempt   int64    `json:"run_attempt"`
		Name         string   `json:"name"`
		WorkflowName string   `json:"workflow_name"`
	} `json:"workflow_job"`
	Sender *struct {
		Login string `json:"login"`
	} `json:"sender"`
	Repository *struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
		Owner    struct {
			Login string `json:"login"`
		} `json:"owner"`
	} `json:"repository"`
	Enterprise *struct {
		Slug string `json:"slug"`
	} `json:"enterprise"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
}

// stateOf maps a workflow_job action to the state it moves the job to.
func stateOf(action string) (corralv1.JobState, bool) {
	switch action {
	case "queued", "waiting":
		return corralv1.JobQueued, true
	case "in_progress":
		return corralv1.JobInProgress, true
	case "completed":
		return corralv1.JobCompleted, true
	}
	return "", false
}

// parseWorkflowJob reads a workflow_job payload. An action Corral does not know is
// reported with ok false and no error: the delivery is acknowledged and ignored.
func parseWorkflowJob(payload []byte) (ev Event, ok bool, err error) {
	var p workflowJobPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return Event{}, false, fmt.Errorf("%w: not JSON", errBadPayload)
	}
	if p.WorkflowJob == nil || p.WorkflowJob.ID <= 0 {
		return Event{}, false, fmt.Errorf("%w: no workflow_job.id", errBadPayload)
	}
	if p.Repository == nil || !strings.Contains(p.Repository.FullName, "/") {
		return Event{}, false, fmt.Errorf("%w: no repository.full_name", errBadPayload)
	}
	state, known := stateOf(p.Action)
	if !known {
		return Event{}, false, nil
	}
	ev = Event{
		Action: p.Action, State: state, JobID: p.WorkflowJob.ID, Repository: p.Repository.FullName,
		Owner: p.Repository.Owner.Login,
	}
	if ev.Owner == "" {
		ev.Owner, _, _ = strings.Cut(ev.Repository, "/")
	}
	if len(ev.Repository) > 256 {
		ev.Repository = "" // not a GitHub name; kept out of status, whose field is bounded
	}
	if p.WorkflowJob.RunnerName != nil && len(*p.WorkflowJob.RunnerName) <= 64 {
		ev.RunnerName = *p.WorkflowJob.RunnerName
	}
	if len(p.WorkflowJob.Labels) > maxLabels {
		return Event{}, false, fmt.Errorf("%w: %d labels", errBadPayload, len(p.WorkflowJob.Labels))
	}
	ev.Labels = p.WorkflowJob.Labels
	if state == corralv1.JobInProgress {
		ev.Identity = identityOf(&p)
	}
	if p.Enterprise != nil {
		ev.Enterprise = p.Enterprise.Slug
	}
	if p.Installation != nil && p.Installation.ID > 0 {
		ev.InstallationID = p.Installation.ID
	}
	if u, err := url.Parse(p.Repository.HTMLURL); err == nil {
		ev.Host = strings.ToLower(u.Host)
	}
	return ev, true, nil
}

// identityOf is the job's identity in p, cleaned for status (corralv1.AttributionText); numbers out
// of range are left out.
func identityOf(p *workflowJobPayload) JobIdentity {
	j := p.WorkflowJob
	id := JobIdentity{Workflow: corralv1.AttributionText(j.WorkflowName), Job: corralv1.AttributionText(j.Name)}
	if j.RunID > 0 {
		id.RunID = j.RunID
	}
	if j.RunAttempt > 0 && j.RunAttempt <= math.MaxInt32 {
		id.RunAttempt = int32(j.RunAttempt)
	}
	if p.Sender != nil {
		id.Sender = corralv1.AttributionText(p.Sender.Login)
	}
	return id
}

// Content types GitHub sends.
const (
	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

// errContentType marks a content type GitHub does not send (415).
var errContentType = errors.New("unsupported content type")

// payloadOf extracts the JSON payload from a delivery body: the body itself for
// application/json, the payload field for application/x-www-form-urlencoded.
func payloadOf(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", errContentType, contentType)
	}
	switch mt {
	case contentJSON:
		return body, nil
	case contentForm:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: form body does not parse", errBadPayload)
		}
		p := form.Get("payload")
		if p == "" {
			return nil, fmt.Errorf("%w: form body has no payload field", errBadPayload)
		}
		return []byte(p), nil
	}
	return nil, fmt.Errorf("%w: %q", errContentType, mt)
}
