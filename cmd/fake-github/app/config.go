package app

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config configures a fake GitHub process. The zero value of a field means its default.
type Config struct {
	// Listen is the address of the REST API (TLS), e.g. 127.0.0.1:0 for a free port.
	Listen string
	// ControlListen is the address of the control API (plain HTTP; keep it on loopback).
	ControlListen string
	// Dir receives info.json, env, ca.crt and the Secret manifests.
	Dir string
	// Org is the organization runners register in.
	Org string
	// Apps is how many GitHub Apps are installed on Org, each with its own credentials
	// (and so its own rate limits, as on GitHub); 1 when 0. Only the first one sends
	// webhook deliveries.
	Apps int
	// WebhookURLs receive the App's signed workflow_job deliveries (Corral's webhook
	// receivers, e.g. one per replica), one picked at random per attempt; none records every
	// delivery as failed to connect.
	WebhookURLs []string
	// WebhookSecret signs deliveries; random when empty.
	WebhookSecret string
	// Kubeconfig enables the runner agent: it watches runner pods and plays the runner
	// process (online when the pod runs, exit code through kwok when its job finished).
	Kubeconfig string
	// Namespace limits the agent to one namespace; all when empty.
	Namespace string
	// JobDuration is how long a job runs once taken, unless a request says otherwise.
	JobDuration time.Duration
	// DispatchInterval is how often queued jobs are handed to idle runners.
	DispatchInterval time.Duration
	// ContentCreatingPerMinute and SecondaryPoints relax GitHub's secondary rate limits
	// (80 POSTs and 900 points per minute) for tests that register many runners quickly.
	ContentCreatingPerMinute int
	SecondaryPoints          int
	// RunnersPerPage caps the page size of runner listings (githubtest.Options), so that
	// Corral pages through its registrations while runners come and go.
	RunnersPerPage int
	// DeliveryLogDelay is how long after an attempt it appears in the App's delivery log
	// (githubtest.Options).
	DeliveryLogDelay time.Duration
	// ErrorRate, when positive, answers that share of the REST API requests with one of
	// ErrorStatuses picked at random (403 and 429 as secondary rate limits, with
	// ErrorRetryAfter), from the start; the control API changes faults later.
	ErrorRate       float64
	ErrorStatuses   []int
	ErrorRetryAfter time.Duration
	// SecretName, CAConfigMapName, WebhookSecretName and RecoverySecretName name the
	// manifests' objects.
	SecretName         string
	CAConfigMapName    string
	WebhookSecretName  string
	RecoverySecretName string
}

// BindFlags registers the serve command's flags on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "Address of the GitHub REST API (TLS); port 0 picks a free one.")
	fs.StringVar(&c.ControlListen, "control-listen", "127.0.0.1:0", "Address of the control API (plain HTTP, no authentication: keep it on loopback).")
	fs.StringVar(&c.Dir, "dir", ".cache/fake-github", "Directory for info.json, env, ca.crt and the Secret manifests.")
	fs.StringVar(&c.Org, "org", "acme", "Organization the runners register in.")
	fs.IntVar(&c.Apps, "apps", 1, "GitHub Apps installed on the organization, each with its own credentials Secret in the manifest "+
		"(--secret-name, then --secret-name-2, ...) and its own rate limits; only the first sends webhook deliveries.")
	fs.Var(listFlag{&c.WebhookURLs}, "webhook-url", "Corral's webhook receiver URL for workflow_job deliveries (e.g. http://127.0.0.1:8082/webhook); "+
		"repeat it for several receivers (replicas): each delivery goes to one picked at random.")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "Secret signing the deliveries; random when empty (it is written to webhook-secret.yaml).")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "Kubeconfig of the cluster whose runner pods the agent plays; empty disables the agent.")
	fs.StringVar(&c.Namespace, "namespace", "", "Namespace of the runner pods the agent plays; all when empty.")
	fs.DurationVar(&c.JobDuration, "job-duration", 5*time.Second, "How long a job runs once a runner took it.")
	fs.DurationVar(&c.DispatchInterval, "dispatch-interval", 200*time.Millisecond, "How often queued jobs are handed to idle runners.")
	fs.IntVar(&c.ContentCreatingPerMinute, "content-creating-per-minute", 0, "POSTs a credential may make per minute (GitHub: 80).")
	fs.IntVar(&c.SecondaryPoints, "secondary-points", 0, "Secondary rate-limit points per minute and endpoint (GitHub: 900).")
	fs.IntVar(&c.RunnersPerPage, "runners-per-page", 0, "Largest page of a runner listing (GitHub: 100; 0 keeps that).")
	fs.DurationVar(&c.DeliveryLogDelay, "delivery-log-delay", 0, "How long after a webhook delivery attempt it appears in the App's delivery log (0: at once).")
	fs.Float64Var(&c.ErrorRate, "error-rate", 0, "Share of REST API requests answered with an error from --error-statuses, at random (0 to 1).")
	fs.Var(statusesFlag{&c.ErrorStatuses}, "error-statuses", "Comma-separated statuses of --error-rate answers (403 and 429 come as secondary rate limits).")
	fs.DurationVar(&c.ErrorRetryAfter, "error-retry-after", time.Second, "Retry-After of 403 and 429 --error-rate answers.")
	fs.StringVar(&c.SecretName, "secret-name", "github-app", "Name of the credentials Secret in the manifest.")
	fs.StringVar(&c.CAConfigMapName, "ca-configmap-name", "github-ca", "Name of the CA bundle ConfigMap in the manifest (key ca.crt).")
	fs.StringVar(&c.WebhookSecretName, "webhook-secret-name", "corral-webhook", "Name of the webhook secret Secret in the manifest (key webhook-secret).")
	fs.StringVar(&c.RecoverySecretName, "recovery-secret-name", "github-app-recovery",
		"Name of the delivery-log recovery Secret (app-id, private-key, ca.crt) for corral's --webhook-recovery-credentials.")
}

// withDefaults fills unset fields.
func (c Config) withDefaults() Config {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.Listen, "127.0.0.1:0")
	def(&c.ControlListen, "127.0.0.1:0")
	def(&c.Org, "acme")
	def(&c.SecretName, "github-app")
	def(&c.CAConfigMapName, "github-ca")
	def(&c.WebhookSecretName, "corral-webhook")
	def(&c.RecoverySecretName, "github-app-recovery")
	if len(c.ErrorStatuses) == 0 {
		c.ErrorStatuses = []int{500, 502, 503, 429, 403}
	}
	if c.JobDuration <= 0 {
		c.JobDuration = 5 * time.Second
	}
	if c.DispatchInterval <= 0 {
		c.DispatchInterval = 200 * time.Millisecond
	}
	if c.Apps <= 0 {
		c.Apps = 1
	}
	return c
}

func (c Config) validate() error {
	if c.Dir == "" {
		return errors.New("a state directory (--dir) is required")
	}
	if c.Apps > maxApps {
		return fmt.Errorf("%d Apps: at most %d (a pool takes up to 9 credentials)", c.Apps, maxApps)
	}
	if c.ContentCreatingPerMinute < 0 || c.SecondaryPoints < 0 || c.RunnersPerPage < 0 || c.DeliveryLogDelay < 0 {
		return fmt.Errorf("rate limits, page sizes and the delivery log delay must not be negative")
	}
	if c.ErrorRate < 0 || c.ErrorRate > 1 {
		return fmt.Errorf("error rate %v is not between 0 and 1", c.ErrorRate)
	}
	return nil
}

// maxApps bounds --apps: a pool names one credentials Secret and up to 8 more.
const maxApps = 9

// AppSecretName is the name of the i-th App's credentials Secret (from 0): base, then
// base-2, base-3, ...
func AppSecretName(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "-" + strconv.Itoa(i+1)
}

// listFlag is a flag that may be repeated; each use appends.
type listFlag struct{ list *[]string }

func (f listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f listFlag) Set(v string) error {
	*f.list = append(*f.list, v)
	return nil
}

// statusesFlag parses comma-separated HTTP status codes.
type statusesFlag struct{ list *[]int }

func (f statusesFlag) String() string {
	if f.list == nil {
		return ""
	}
	parts := make([]string, 0, len(*f.list))
	for _, s := range *f.list {
		parts = append(parts, strconv.Itoa(s))
	}
	return strings.Join(parts, ",")
}

func (f statusesFlag) Set(v string) error {
	var out []int
	for _, item := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || n < 400 || n > 599 {
			return fmt.Errorf("%q is not an HTTP error status", item)
		}
		out = append(out, n)
	}
	*f.list = out
	return nil
}
