package app

import (
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// Info describes a running fake GitHub: where its API and control API listen and the App
// that Corral authenticates as. It is written to <dir>/info.json and served at /v1/info.
// It holds no secret: the App's private key and the webhook secret are only in the Secret
// manifests under Dir.
type Info struct {
	// URL is the base URL of the fake's REST API (TLS), e.g. https://127.0.0.1:40123.
	URL string `json:"url"`
	// Org is the organization runners register in.
	Org string `json:"org"`
	// PoolURL is the RunnerPool spec.github.url for Org on this fake (GHES-style).
	PoolURL string `json:"poolURL"`
	// AppID and InstallationID identify the fake GitHub App (the first one of Apps).
	AppID          int64 `json:"appID"`
	InstallationID int64 `json:"installationID"`
	// Apps are every App installed on Org (--apps), the one above first, each with its own
	// credentials Secret in CredentialsManifest and its own rate limits.
	Apps []AppInfo `json:"apps"`
	// ControlURL is the base URL of the control API (plain HTTP on loopback).
	ControlURL string `json:"controlURL"`
	// WebhookURLs are where workflow_job deliveries go, one picked at random per attempt;
	// empty when none was configured.
	WebhookURLs []string `json:"webhookURLs,omitempty"`
	// Dir holds the files below.
	Dir string `json:"dir"`
	// CAFile is the PEM certificate that clients of URL must trust.
	CAFile string `json:"caFile"`
	// CredentialsManifest holds the credentials Secret of each App and the CA ConfigMap,
	// without a namespace: apply it into each pool's namespace.
	CredentialsManifest string `json:"credentialsManifest"`
	// WebhookSecretManifest holds the webhook secret Secret for Corral's --webhook-secret,
	// without a namespace: apply it into the operator's namespace.
	WebhookSecretManifest string `json:"webhookSecretManifest"`
	// RecoveryCredentialsManifest holds a Secret with the App's app-id, private-key and the
	// CA as ca.crt, without a namespace, for corral's --webhook-recovery-credentials (the
	// delivery log is read with the App's JWT): apply it into the operator's namespace.
	RecoveryCredentialsManifest string `json:"recoveryCredentialsManifest"`
	// SecretName, CAConfigMapName, WebhookSecretName and RecoverySecretName name the objects
	// in the manifests.
	SecretName         string `json:"secretName"`
	CAConfigMapName    string `json:"caConfigMapName"`
	WebhookSecretName  string `json:"webhookSecretName"`
	RecoverySecretName string `json:"recoverySecretName"`
}

// AppInfo is one fake GitHub App installed on the organization.
type AppInfo struct {
	AppID          int64 `json:"appID"`
	InstallationID int64 `json:"installationID"`
	// Credential names its installation in the per-credential counts (e.g.
	// "installation/1002"); JWTCredential the App's own JWT, which mints tokens.
	Credential    string `json:"credential"`
	JWTCredential string `json:"jwtCredential"`
	// SecretName names its credentials Secret in CredentialsManifest.
	SecretName string `json:"secretName"`
}

// SecretNames are the credentials Secrets of the first n Apps (all when n exceeds them).
func (i Info) SecretNames(n int) []string {
	var out []string
	for _, a := range i.Apps[:min(n, len(i.Apps))] {
		out = append(out, a.SecretName)
	}
	return out
}

// JobState is where a workflow job is in its life.
type JobState string

// Job states, as in workflow_job deliveries.
const (
	JobQueued     JobState = "queued"
	JobInProgress JobState = "in_progress"
	JobCompleted  JobState = "completed"
)

// Job is a workflow job the fake GitHub hands to runners.
type Job struct {
	ID     int64    `json:"id"`
	Labels []string `json:"labels"`
	State  JobState `json:"state"`
	// Runner is the runner that took the job.
	Runner string `json:"runner,omitempty"`
	// Hold keeps the job running until it is released.
	Hold bool `json:"hold,omitempty"`
	// Duration is how long the job runs once taken (when not held).
	Duration string `json:"duration"`
	// Conclusion of a completed job: success, or failure when its runner vanished.
	Conclusion string `json:"conclusion,omitempty"`
	// Lost is true when the runner's pod went away (or terminated) while running the job:
	// Corral must never delete a busy runner.
	Lost        bool       `json:"lost,omitempty"`
	QueuedAt    time.Time  `json:"queuedAt"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	// Delivered is when the first delivery of each action (queued, in_progress, completed)
	// was sent, for latencies measured from GitHub's side.
	Delivered map[string]time.Time `json:"delivered,omitempty"`
}

// QueueRequest queues Count jobs (POST /v1/jobs).
type QueueRequest struct {
	// Count of jobs, 1 when 0.
	Count int `json:"count"`
	// Labels are the jobs' runs-on labels.
	Labels []string `json:"labels"`
	// Hold keeps each job running once taken until it is released (POST /v1/jobs/release).
	Hold bool `json:"hold,omitempty"`
	// Duration a job runs once taken (Go duration); the server's default when empty.
	Duration string `json:"duration,omitempty"`
}

// QueueResponse lists the queued jobs and how their queued deliveries went.
type QueueResponse struct {
	Jobs []Job `json:"jobs"`
	// Delivered counts queued deliveries Corral acknowledged (2xx); Failed the others
	// (including "no webhook configured").
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
}

// ReleaseRequest releases every held job (POST /v1/jobs/release): jobs running finish after
// Duration, queued ones run for Duration once taken.
type ReleaseRequest struct {
	Duration string `json:"duration,omitempty"`
}

// WebhookRequest sends one workflow_job delivery as GitHub would (POST /v1/webhooks), for
// tests that script deliveries themselves.
type WebhookRequest struct {
	// Action is queued, waiting, in_progress or completed.
	Action string   `json:"action"`
	JobID  int64    `json:"jobID"`
	Labels []string `json:"labels"`
	// Runner is the runner that took the job (in_progress, completed).
	Runner string `json:"runner,omitempty"`
}

// FaultRequest makes the fake answer matching API requests slowly or with an error
// (POST /v1/faults; DELETE /v1/faults removes them all): githubtest.Fault with durations as
// Go duration strings.
type FaultRequest struct {
	// Endpoint is a githubtest endpoint, e.g. "POST /orgs/{org}/actions/runners/generate-jitconfig";
	// empty matches every endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// Credential is a githubtest credential (e.g. "installation/1002"); empty matches all.
	Credential string `json:"credential,omitempty"`
	// Latency delays the answers (Go duration).
	Latency string `json:"latency,omitempty"`
	// Status, when set, is answered instead of the real response (e.g. 503); 403 and 429
	// are answered as GitHub's secondary rate limit, with Retry-After.
	Status int `json:"status,omitempty"`
	// Statuses, when set, replace Status: one is picked at random per hit.
	Statuses []int `json:"statuses,omitempty"`
	// RetryAfter of 403 and 429 answers (Go duration, rounded up to seconds; 1s when empty).
	RetryAfter string `json:"retryAfter,omitempty"`
	// Probability that a matching request is hit, in (0, 1]; 0 hits every one.
	Probability float64 `json:"probability,omitempty"`
	// Times is how many requests the fault hits; 0 means until removed.
	Times int `json:"times,omitempty"`
}

// Stats counts what the fake saw (GET /v1/stats): the facts a chaos run checks Corral
// against.
type Stats struct {
	// Jobs by state; Lost counts the completed jobs whose busy runner's pod went away.
	JobsQueued     int `json:"jobsQueued"`
	JobsInProgress int `json:"jobsInProgress"`
	JobsCompleted  int `json:"jobsCompleted"`
	JobsLost       int `json:"jobsLost"`
	// Registrations by how they were made (githubtest.ViaJIT, ViaAdded), RegistrationsLive
	// those that still exist, Removed the others by why they went (githubtest.RemovedBy*).
	Registrations     map[string]int `json:"registrations"`
	RegistrationsLive int            `json:"registrationsLive"`
	Removed           map[string]int `json:"removed"`
	// Requests is every REST API request; FaultAnswers those a fault answered, by status.
	Requests     int         `json:"requests"`
	FaultAnswers map[int]int `json:"faultAnswers"`
	// RunnerPages counts the runner listing pages served, RunnerLaterPages those after the
	// first (a listing that --runners-per-page spread over several pages).
	RunnerPages      int64 `json:"runnerPages"`
	RunnerLaterPages int64 `json:"runnerLaterPages"`
	// Deliveries is every webhook delivery attempt, DeliveriesFailed those not answered 2xx.
	Deliveries       int `json:"deliveries"`
	DeliveriesFailed int `json:"deliveriesFailed"`
	// TokenMints counts the installation tokens minted, by installation ID.
	TokenMints map[int64]int `json:"tokenMints"`
	// RateLimited counts the requests a primary or secondary rate limit refused, by
	// credential (AppInfo.Credential).
	RateLimited map[string]int `json:"rateLimited"`
}

// RegistrationRecord is a registration's life (githubtest.Registration) and, with the agent,
// its runner pod's: when a pod of that name was first seen existing (not terminated, not
// being deleted) and when it went away (GET /v1/registrations). Zero times did not happen.
type RegistrationRecord struct {
	githubtest.Registration
	PodSeenAt time.Time `json:"podSeenAt,omitzero"`
	PodGoneAt time.Time `json:"podGoneAt,omitzero"`
}

// IssuedSecrets are the secrets the fake handed out (GET /v1/secrets), for suites that check
// no log line of any process holds one. The control API is unauthenticated: keep it on
// loopback.
type IssuedSecrets struct {
	// Tokens are the installation tokens minted.
	Tokens []string `json:"tokens"`
	// JITConfigs are the encoded JIT configurations answered.
	JITConfigs []string `json:"jitConfigs"`
	// PrivateKeyPEM is the App's private key.
	PrivateKeyPEM string `json:"privateKeyPEM"`
	// WebhookSecret signs the deliveries.
	WebhookSecret string `json:"webhookSecret"`
}

// ExitRequest makes a runner's pod terminate with Code (POST /v1/runners/{name}/exit).
type ExitRequest struct {
	Code int `json:"code"`
}

// Runner actions (POST /v1/runners/{name}/{action}): what the runner process or GitHub does.
const (
	// ActionOnline: the runner connected.
	ActionOnline = "online"
	// ActionOffline: the runner disconnected.
	ActionOffline = "offline"
	// ActionStart: GitHub assigned it a job (without a Job record; see POST /v1/jobs).
	ActionStart = "start"
	// ActionFinish: the job finished; GitHub removes the ephemeral registration.
	ActionFinish = "finish"
	// ActionRemove: GitHub dropped the registration.
	ActionRemove = "remove"
)
