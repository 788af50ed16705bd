// Package app is the fake GitHub as a process: it serves internal/github/githubtest on a
// local TLS port, plays GitHub's side of a workflow job (queued jobs handed to idle online
// runners, signed workflow_job deliveries sent to Corral's webhook receiver, ephemeral
// registrations removed when a job finishes) and, given a kubeconfig, the runner process's
// side too (a runner comes online when its pod runs; its pod terminates through kwok when
// its job finished). A small control API drives it; Client talks to it.
//
// It exists for the local demo and the end-to-end suite, where runner pods run no
// containers.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// Server is a running fake GitHub.
type Server struct {
	cfg    Config
	gh     *githubtest.Server
	app    githubtest.App   // the first App: it sends the webhook deliveries
	apps   []githubtest.App // every App, app first
	secret string           // signs the webhook deliveries
	info   Info
	jobs   *dispatcher
	agent  *agent // nil without a kubeconfig
	log    *slog.Logger
	// pages counts the runner listing pages served, later those after the first.
	pages, later atomic.Int64
}

// Run serves a fake GitHub until ctx is done. It writes its Info and manifests to cfg.Dir
// once both listeners are up and the agent (if any) has synced, so a caller may wait for
// <dir>/info.json.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	apiL, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening for the API: %w", err)
	}
	ctlL, err := net.Listen("tcp", cfg.ControlListen)
	if err != nil {
		_ = apiL.Close()
		return fmt.Errorf("listening for the control API: %w", err)
	}
	gh := githubtest.New(githubtest.Options{
		ContentCreatingPerMinute: cfg.ContentCreatingPerMinute,
		SecondaryPoints:          cfg.SecondaryPoints,
		RunnersPerPage:           cfg.RunnersPerPage,
		DeliveryLogDelay:         cfg.DeliveryLogDelay,
	})
	if err := gh.StartTLS(apiL); err != nil {
		_, _ = apiL.Close(), ctlL.Close()
		return fmt.Errorf("serving the API: %w", err)
	}
	defer gh.Close()

	s := &Server{cfg: cfg, gh: gh, log: log}
	gh.OnRunnersPage(func(_ githubtest.Scope, page int) {
		s.pages.Add(1)
		if page > 1 {
			s.later.Add(1)
		}
	})
	if s.apps, err = addApps(gh, cfg.Org, cfg.Apps); err != nil {
		return err
	}
	s.app = s.apps[0]
	secret := cfg.WebhookSecret
	if secret == "" {
		if secret, err = randomHex(20); err != nil {
			return err
		}
	}
	s.secret = secret
	if len(cfg.WebhookURLs) > 0 {
		gh.SetAppWebhook(s.app.ID, githubtest.AppWebhook{URLs: cfg.WebhookURLs, Secret: secret})
	}
	if cfg.ErrorRate > 0 {
		gh.InjectFault(githubtest.Fault{Probability: cfg.ErrorRate, Statuses: cfg.ErrorStatuses, RetryAfter: cfg.ErrorRetryAfter})
	}
	s.info = Info{
		URL: gh.URL(), Org: cfg.Org, PoolURL: gh.OrgURL(cfg.Org), AppID: s.app.ID, InstallationID: s.app.InstallationID,
		ControlURL: "http://" + ctlL.Addr().String(), WebhookURLs: cfg.WebhookURLs,
		SecretName: cfg.SecretName, CAConfigMapName: cfg.CAConfigMapName, WebhookSecretName: cfg.WebhookSecretName,
		RecoverySecretName: cfg.RecoverySecretName,
	}
	for i, a := range s.apps {
		s.info.Apps = append(s.info.Apps, AppInfo{AppID: a.ID, InstallationID: a.InstallationID, Credential: a.Credential,
			JWTCredential: githubtest.AppCredential(a.ID), SecretName: AppSecretName(cfg.SecretName, i)})
	}
	s.jobs = newDispatcher(gh, s.deliver, cfg.JobDuration, log)
	if cfg.Kubeconfig != "" {
		if s.agent, err = newAgent(cfg.Kubeconfig, cfg.Namespace, gh, s.jobs, log); err != nil {
			return err
		}
		if err := s.agent.start(ctx); err != nil {
			return err
		}
		s.jobs.pods = s.agent
	}
	if err := writeState(cfg.Dir, &s.info, s.apps, gh.CACertPEM(), secret); err != nil {
		return err
	}

	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctlL) }()
	log.Info("fake GitHub ready", "url", s.info.URL, "org", cfg.Org, "appID", s.app.ID,
		"installationID", s.app.InstallationID, "control", s.info.ControlURL, "dir", s.info.Dir)

	go s.jobs.run(ctx, cfg.DispatchInterval)
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serving the control API: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stopping the control API: %w", err)
	}
	return nil
}

// addApps installs n GitHub Apps on org, each with a key of its own (the first one the
// fake's shared key), as separate Apps are: separate credentials, separate rate limits.
func addApps(gh *githubtest.Server, org string, n int) ([]githubtest.App, error) {
	apps := make([]githubtest.App, 0, n)
	for i := range n {
		var key []byte
		if i > 0 {
			var err error
			if key, err = githubtest.NewPrivateKeyPEM(); err != nil {
				return nil, fmt.Errorf("App %d: %w", i+1, err)
			}
		}
		apps = append(apps, gh.AddApp(githubtest.AppOptions{PrivateKeyPEM: key, Installation: githubtest.InstallationOptions{Owner: org}}))
	}
	return apps, nil
}

// deliver sends one workflow_job delivery for j as GitHub would, and logs the outcome.
func (s *Server) deliver(ctx context.Context, action string, j Job) githubtest.Delivery {
	u, _ := url.Parse(s.info.URL)
	payload := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{
		Action: action, ID: j.ID, Labels: j.Labels, RunnerName: j.Runner, Repository: s.cfg.Org + "/app",
		Host: u.Host, InstallationID: s.app.InstallationID, Conclusion: j.Conclusion,
	})
	d := s.gh.DeliverAppEvent(ctx, s.app.ID, "workflow_job", payload)
	if len(s.cfg.WebhookURLs) > 0 && !d.Succeeded() {
		s.log.Warn("webhook delivery failed", "job", j.ID, "action", action, "status", d.StatusCode, "url", d.URL)
	}
	return d
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a webhook secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
