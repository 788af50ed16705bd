//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Timings that make the suite fast: the sweep (which learns busy runners from GitHub and
// removes orphaned registrations) runs every 2 s and orphans are removed after 5 s.
const (
	sweepInterval = 2 * time.Second
	orphanGrace   = 5 * time.Second
)

// webhookPath is where corral's webhook receiver takes deliveries.
const webhookPath = "/webhook"

// corral is the corral binary running out of cluster with its ServiceAccount's token.
type corral struct {
	e        *environment
	proc     *process
	args     []string
	probeURL string
	webhooks bool // the binary has the webhook receiver and it is enabled
	starts   int
}

// startCorral picks free ports and starts corral. The webhook receiver is enabled when the
// binary has its flags.
func (e *environment) startCorral(ctx context.Context) error {
	help, _ := exec.CommandContext(ctx, e.corralBin, "--help").CombinedOutput()
	c := &corral{e: e, webhooks: strings.Contains(string(help), "-webhook-secret")}
	metrics, err := freePort()
	if err != nil {
		return err
	}
	probe, err := freePort()
	if err != nil {
		return err
	}
	c.probeURL = fmt.Sprintf("http://127.0.0.1:%d/readyz", probe)
	c.args = []string{
		"--kubeconfig", e.corralConfig, "--leader-elect=false", "--operator-namespace", operatorNamespace,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metrics),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probe),
		"--sweep-interval", sweepInterval.String(), "--orphan-grace", orphanGrace.String(),
		"--zap-log-level", "info",
	}
	if c.webhooks {
		c.args = append(c.args,
			"--webhook-bind-address", e.webhookAddr, "--webhook-path", webhookPath,
			"--webhook-secret", operatorNamespace+"/"+e.fakeInfo.WebhookSecretName)
	}
	e.corral = c
	return c.start()
}

// start runs the binary and waits until it is ready (and, with webhooks, until the receiver
// listens).
func (c *corral) start() error {
	c.starts++
	p, err := startProcess("corral", filepath.Join(c.e.work, "logs", "corral.log"), c.e.corralBin, c.args...)
	if err != nil {
		return err
	}
	c.proc = p
	if err := waitHTTP(p, c.probeURL, time.Minute); err != nil {
		return err
	}
	if c.webhooks {
		return waitListening(p, c.e.webhookAddr, 30*time.Second)
	}
	return nil
}

// crash kills corral with SIGKILL: no cleanup, no graceful shutdown.
func (c *corral) crash() { c.proc.kill() }

// freeze and thaw stop and resume corral (SIGSTOP, SIGCONT) without it noticing.
func (c *corral) freeze() { c.proc.signal(syscall.SIGSTOP) }
func (c *corral) thaw()   { c.proc.signal(syscall.SIGCONT) }

func (c *corral) stop() {
	if c.proc != nil {
		c.proc.stop(10 * time.Second)
	}
}
