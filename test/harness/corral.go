package harness

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// CorralOptions configure the corral binary running out of cluster.
type CorralOptions struct {
	// Name names the process and its log file (<LogDir>/<Name>.log); "corral" when empty.
	Name string
	// Bin is the corral binary; Kubeconfig the one InstallCorral wrote.
	Bin, Kubeconfig, LogDir string
	// LeaderElect runs it with leader election (Lease in the operator's namespace), as
	// replicas do; otherwise --leader-elect=false.
	LeaderElect bool
	// WebhookSecret names the webhook secret Secret in the operator's namespace; set, it
	// enables the webhook receiver on WebhookAddr at WebhookPath.
	WebhookSecret string
	// Env is added to the process's environment (e.g. CORRAL_FAILPOINTS, GOMEMLIMIT).
	Env []string
	// Pprof serves Go's profiles on PprofAddr (--pprof-bind-address): set it only for a
	// binary that has the flag (HasFlag).
	Pprof bool
	// Args are further flags.
	Args []string
}

// WebhookPath is where corral's webhook receiver takes deliveries.
const WebhookPath = "/webhook"

// Corral is a corral process with its own ports; Start starts it (again, after a crash).
type Corral struct {
	// Options may be changed before a Start, e.g. to enable the webhook receiver once the
	// fake GitHub named its secret.
	Options                                        CorralOptions
	MetricsAddr, ProbeAddr, WebhookAddr, PprofAddr string
	// Proc is the current process; nil before the first Start.
	Proc *Process
	// Starts counts the Start calls.
	Starts int
}

// NewCorral picks free ports for corral's metrics, probes and webhook receiver. It starts
// nothing: a fake GitHub may need WebhookURL first.
func NewCorral(o CorralOptions) (*Corral, error) {
	if o.Name == "" {
		o.Name = "corral"
	}
	c := &Corral{Options: o}
	for _, addr := range []*string{&c.MetricsAddr, &c.ProbeAddr, &c.WebhookAddr, &c.PprofAddr} {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		*addr = a
	}
	return c, nil
}

// Name names the process.
func (c *Corral) Name() string { return c.Options.Name }

// WebhookURL is where a fake GitHub sends this corral's deliveries.
func (c *Corral) WebhookURL() string { return "http://" + c.WebhookAddr + WebhookPath }

// MetricsURL is corral's Prometheus endpoint.
func (c *Corral) MetricsURL() string { return "http://" + c.MetricsAddr + "/metrics" }

// PprofURL is the base of corral's profile endpoints (.../profile, .../heap), when
// Options.Pprof is set.
func (c *Corral) PprofURL() string { return "http://" + c.PprofAddr + "/debug/pprof" }

// PprofFlag is corral's flag for the address of Go's profile endpoints
// (controller-runtime's manager.Options.PprofBindAddress).
const PprofFlag = "--pprof-bind-address"

// Webhooks reports whether the webhook receiver is enabled.
func (c *Corral) Webhooks() bool { return c.Options.WebhookSecret != "" }

// Args are the flags corral runs with.
func (c *Corral) Args() []string {
	leader := []string{"--leader-elect=false"}
	if c.Options.LeaderElect {
		leader = []string{"--leader-elect", "--leader-election-namespace", OperatorNamespace}
	}
	args := append([]string{"--kubeconfig", c.Options.Kubeconfig}, leader...)
	args = append(args, "--operator-namespace", OperatorNamespace,
		"--metrics-bind-address", c.MetricsAddr, "--health-probe-bind-address", c.ProbeAddr)
	if c.Webhooks() {
		args = append(args, "--webhook-bind-address", c.WebhookAddr, "--webhook-path", WebhookPath,
			"--webhook-secret", OperatorNamespace+"/"+c.Options.WebhookSecret)
	}
	if c.Options.Pprof {
		args = append(args, PprofFlag, c.PprofAddr)
	}
	return append(args, c.Options.Args...)
}

// Start runs the binary and waits until it is ready (and, with webhooks, until the receiver
// listens).
func (c *Corral) Start() error {
	p, err := c.Launch()
	if err != nil {
		return err
	}
	return c.WaitReady(p)
}

// Launch runs the binary and returns at once; Proc is the new process.
func (c *Corral) Launch() (*Process, error) {
	c.Starts++
	p, err := Start(Command{Name: c.Options.Name, Bin: c.Options.Bin, Args: c.Args(), Env: c.Options.Env,
		Log: filepath.Join(c.Options.LogDir, c.Options.Name+".log")})
	if err != nil {
		return nil, err
	}
	c.Proc = p
	return p, nil
}

// WaitReady waits until p, a process of this corral, is ready (and, with webhooks, until the
// receiver listens).
func (c *Corral) WaitReady(p *Process) error {
	if err := p.WaitHTTP("http://"+c.ProbeAddr+"/readyz", time.Minute); err != nil {
		return err
	}
	if c.Webhooks() {
		return p.WaitListening(c.WebhookAddr, 30*time.Second)
	}
	return nil
}

// Running reports whether the current process runs.
func (c *Corral) Running() bool { return c.Proc != nil && c.Proc.Running() }

// Stop stops the current process, if any.
func (c *Corral) Stop() {
	if c.Proc != nil {
		c.Proc.Stop(10 * time.Second)
	}
}

// HasWebhookReceiver reports whether the corral binary has the webhook receiver's flags.
func HasWebhookReceiver(ctx context.Context, bin string) bool {
	return HasFlag(ctx, bin, "--webhook-secret")
}

// HasFlag reports whether the corral binary lists flag (e.g. "--pprof-bind-address") in its
// --help.
func HasFlag(ctx context.Context, bin, flag string) bool {
	help, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	listed := regexp.MustCompile(`(?m)^\s+--?` + regexp.QuoteMeta(strings.TrimLeft(flag, "-")) + `(\s|$)`)
	return listed.Match(help)
}
