package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// Client talks to a fake GitHub's control API.
type Client struct {
	// BaseURL is Info.ControlURL, e.g. http://127.0.0.1:40124.
	BaseURL string
	// HTTP sends the requests; a client with a 30 s timeout when nil.
	HTTP *http.Client
}

// NewClient returns a client for the control API at baseURL.
func NewClient(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// ReadInfo reads the Info a fake GitHub wrote to dir; it fails until the fake is ready.
func ReadInfo(dir string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return info, fmt.Errorf("reading the fake GitHub's info: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("decoding %s: %w", filepath.Join(dir, InfoFile), err)
	}
	return info, nil
}

// Info describes the fake.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	return out, c.do(ctx, http.MethodGet, "/v1/info", nil, &out)
}

// Runners lists the registered runners.
func (c *Client) Runners(ctx context.Context) ([]githubtest.Runner, error) {
	var out []githubtest.Runner
	return out, c.do(ctx, http.MethodGet, "/v1/runners", nil, &out)
}

// Registrations lists every registration the fake ever held, with its runner pod's times.
func (c *Client) Registrations(ctx context.Context) ([]RegistrationRecord, error) {
	var out []RegistrationRecord
	return out, c.do(ctx, http.MethodGet, "/v1/registrations", nil, &out)
}

// Stats counts jobs, registrations, requests, fault answers and deliveries.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	return out, c.do(ctx, http.MethodGet, "/v1/stats", nil, &out)
}

// Secrets returns every secret the fake handed out.
func (c *Client) Secrets(ctx context.Context) (IssuedSecrets, error) {
	var out IssuedSecrets
	return out, c.do(ctx, http.MethodGet, "/v1/secrets", nil, &out)
}

// Jobs lists every job queued so far.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var out []Job
	return out, c.do(ctx, http.MethodGet, "/v1/jobs", nil, &out)
}

// Job is one job.
func (c *Client) Job(ctx context.Context, id int64) (Job, error) {
	var out Job
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/jobs/%d", id), nil, &out)
}

// Queue queues jobs; their queued deliveries are sent before it returns.
func (c *Client) Queue(ctx context.Context, req QueueRequest) (QueueResponse, error) {
	var out QueueResponse
	return out, c.do(ctx, http.MethodPost, "/v1/jobs", req, &out)
}

// Release lets held jobs finish after d.
func (c *Client) Release(ctx context.Context, d time.Duration) (int, error) {
	var out map[string]int
	err := c.do(ctx, http.MethodPost, "/v1/jobs/release", ReleaseRequest{Duration: d.String()}, &out)
	return out["released"], err
}

// Register registers a runner directly, without a JIT call, as if a runner manager had
// registered it and then vanished: an orphan for Corral's sweep, or another pool's runner.
// An empty Scope is the fake's organization.
func (c *Client) Register(ctx context.Context, spec githubtest.RunnerSpec) (githubtest.Runner, error) {
	var out githubtest.Runner
	return out, c.do(ctx, http.MethodPost, "/v1/runners", spec, &out)
}

// InjectFault makes matching API requests slow or failing.
func (c *Client) InjectFault(ctx context.Context, req FaultRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/faults", req, nil)
}

// ClearFaults removes every injected fault.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/faults", nil, nil)
}

// RunnerAction plays one step of a runner's life (ActionOnline, ActionStart, ...).
func (c *Client) RunnerAction(ctx context.Context, runner, action string) error {
	return c.do(ctx, http.MethodPost, "/v1/runners/"+url.PathEscape(runner)+"/"+url.PathEscape(action), nil, nil)
}

// Exit makes a runner's pod terminate with code (through kwok).
func (c *Client) Exit(ctx context.Context, runner string, code int) error {
	return c.do(ctx, http.MethodPost, "/v1/runners/"+url.PathEscape(runner)+"/exit", ExitRequest{Code: code}, nil)
}

// SendWebhook sends one workflow_job delivery and returns how Corral answered.
func (c *Client) SendWebhook(ctx context.Context, req WebhookRequest) (githubtest.Delivery, error) {
	var out githubtest.Delivery
	return out, c.do(ctx, http.MethodPost, "/v1/webhooks", req, &out)
}

// Deliveries lists the App's webhook delivery log, oldest first.
func (c *Client) Deliveries(ctx context.Context) ([]githubtest.Delivery, error) {
	var out []githubtest.Delivery
	return out, c.do(ctx, http.MethodGet, "/v1/deliveries", nil, &out)
}

// Calls counts the GitHub API calls by endpoint ("total" for all).
func (c *Client) Calls(ctx context.Context) (map[string]int, error) {
	var out map[string]int
	return out, c.do(ctx, http.MethodGet, "/v1/calls", nil, &out)
}

// CallsByCredential counts the GitHub API calls of each credential by endpoint.
func (c *Client) CallsByCredential(ctx context.Context) (map[string]map[string]int, error) {
	var out map[string]map[string]int
	return out, c.do(ctx, http.MethodGet, "/v1/calls/credentials", nil, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("building %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding %s %s: %w", method, path, err)
	}
	return nil
}
