package app

import (
	"errors"
	"flag"
	"fmt"
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
	// WebhookURL receives the App's signed workflow_job deliveries (Corral's webhook
	// receiver); empty records every delivery as failed to connect.
	WebhookURL string
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
	// SecretName, CAConfigMapName and WebhookSecretName name the manifests' objects.
	SecretName        string
	CAConfigMapName   string
	WebhookSecretName string
}

// BindFlags registers the serve command's flags on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "Address of the GitHub REST API (TLS); port 0 picks a free one.")
	fs.StringVar(&c.ControlListen, "control-listen", "127.0.0.1:0", "Address of the control API (plain HTTP, no authentication: keep it on loopback).")
	fs.StringVar(&c.Dir, "dir", ".cache/fake-github", "Directory for info.json, env, ca.crt and the Secret manifests.")
	fs.StringVar(&c.Org, "org", "acme", "Organization the runners register in.")
	fs.StringVar(&c.WebhookURL, "webhook-url", "", "Corral's webhook receiver URL for workflow_job deliveries (e.g. http://127.0.0.1:8082/webhook).")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "Secret signing the deliveries; random when empty (it is written to webhook-secret.yaml).")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "Kubeconfig of the cluster whose runner pods the agent plays; empty disables the agent.")
	fs.StringVar(&c.Namespace, "namespace", "", "Namespace of the runner pods the agent plays; all when empty.")
	fs.DurationVar(&c.JobDuration, "job-duration", 5*time.Second, "How long a job runs once a runner took it.")
	fs.DurationVar(&c.DispatchInterval, "dispatch-interval", 200*time.Millisecond, "How often queued jobs are handed to idle runners.")
	fs.IntVar(&c.ContentCreatingPerMinute, "content-creating-per-minute", 0, "POSTs a credential may make per minute (GitHub: 80).")
	fs.IntVar(&c.SecondaryPoints, "secondary-points", 0, "Secondary rate-limit points per minute and endpoint (GitHub: 900).")
	fs.StringVar(&c.SecretName, "secret-name", "github-app", "Name of the credentials Secret in the manifest.")
	fs.StringVar(&c.CAConfigMapName, "ca-configmap-name", "github-ca", "Name of the CA bundle ConfigMap in the manifest (key ca.crt).")
	fs.StringVar(&c.WebhookSecretName, "webhook-secret-name", "corral-webhook", "Name of the webhook secret Secret in the manifest (key webhook-secret).")
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
	if c.JobDuration <= 0 {
		c.JobDuration = 5 * time.Second
	}
	if c.DispatchInterval <= 0 {
		c.DispatchInterval = 200 * time.Millisecond
	}
	return c
}

func (c Config) validate() error {
	if c.Dir == "" {
		return errors.New("a state directory (--dir) is required")
	}
	if c.ContentCreatingPerMinute < 0 || c.SecondaryPoints < 0 {
		return fmt.Errorf("rate limits must not be negative")
	}
	return nil
}
