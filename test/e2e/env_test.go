//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/harness"
)

// Environment variables the suite reads.
const (
	// envClusterDir points at a running hack/cluster/up.sh cluster (its D) to reuse instead
	// of starting one; the suite then leaves it running.
	envClusterDir = "E2E_CLUSTER_DIR"
	// envKeep keeps the work directory (logs) even when every spec passed.
	envKeep = "E2E_KEEP"
	// envK8sBin overrides the directory of the Kubernetes binaries.
	envK8sBin = "E2E_K8S_BIN"
	// envCorralBin runs this corral binary instead of building ./cmd/corral.
	envCorralBin = "E2E_CORRAL_BIN"
)

// operatorNamespace is where config/default installs Corral's ServiceAccount and RBAC.
const operatorNamespace = harness.OperatorNamespace

// Timings that make the suite fast: the sweep (which learns busy runners from GitHub and
// removes orphaned registrations) runs every 2 s and orphans are removed after 5 s.
const (
	sweepInterval = 2 * time.Second
	orphanGrace   = 5 * time.Second
)

// environment is everything the suite started: a local cluster (or one it reuses), the fake
// GitHub and the corral binary, all local processes.
type environment struct {
	work, k8sBin string

	cluster      *harness.Cluster
	kubeconfig   string // admin
	corralConfig string // the corral ServiceAccount's token

	k8s client.WithWatch

	fake     *harness.FakeGitHub
	fakeInfo app.Info
	gh       *app.Client

	corralBin string
	corral    *harness.Corral
}

// setUp builds the binaries and starts everything, in order.
func setUp(ctx context.Context) (*environment, error) {
	e := &environment{k8sBin: harness.K8sBin(os.Getenv(envK8sBin))}
	if err := os.MkdirAll(filepath.Join(harness.RepoRoot(), ".cache", "e2e"), 0o755); err != nil {
		return e, fmt.Errorf("creating .cache/e2e: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Join(harness.RepoRoot(), ".cache", "e2e"), time.Now().Format("20060102-150405-"))
	if err != nil {
		return e, fmt.Errorf("creating the work directory: %w", err)
	}
	e.work = work
	for _, dir := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
			return e, fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...) }
	return e, harness.RunSteps(ctx, logf,
		harness.Step{Name: "build binaries", Run: e.build},
		harness.Step{Name: "start the cluster", Run: e.startCluster},
		harness.Step{Name: "install Corral", Run: e.install},
		harness.Step{Name: "start the fake GitHub", Run: e.startFake},
		harness.Step{Name: "start corral", Run: func(context.Context) error { return e.corral.Start() }},
	)
}

// tearDown stops what setUp started, in reverse order, and removes the work directory unless
// a spec failed or E2E_KEEP is set.
func (e *environment) tearDown(failed bool) {
	if e.corral != nil {
		e.corral.Stop()
	}
	e.fake.Stop()
	if err := e.cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
	}
	if e.work == "" {
		return
	}
	if failed || os.Getenv(envKeep) != "" {
		fmt.Fprintf(os.Stderr, "e2e: logs kept in %s\n", e.work)
		return
	}
	_ = os.RemoveAll(e.work)
}

// build compiles corral (unless E2E_CORRAL_BIN names one) and fake-github from this checkout.
func (e *environment) build(ctx context.Context) error {
	if err := harness.Build(ctx, filepath.Join(e.work, "bin", "fake-github"), "./cmd/fake-github"); err != nil {
		return err
	}
	if e.corralBin = os.Getenv(envCorralBin); e.corralBin != "" {
		return nil
	}
	e.corralBin = filepath.Join(e.work, "bin", "corral")
	return harness.Build(ctx, e.corralBin, "./cmd/corral")
}

// startCluster starts hack/cluster/up.sh in the work directory, or reuses E2E_CLUSTER_DIR.
func (e *environment) startCluster(ctx context.Context) error {
	o := harness.ClusterOptions{Dir: os.Getenv(envClusterDir), K8sBin: e.k8sBin, QPS: 100, Burst: 200}
	var err error
	if o.Dir != "" {
		e.cluster, err = harness.ReuseCluster(o)
	} else {
		o.Dir, o.Install = filepath.Join(e.work, "cluster"), true
		e.cluster, err = harness.StartCluster(ctx, o)
	}
	if err != nil {
		return err
	}
	e.kubeconfig, e.k8s = e.cluster.Kubeconfig, e.cluster.Client
	return nil
}

// install applies Corral the way users do and writes a kubeconfig with the token of its
// ServiceAccount.
func (e *environment) install(ctx context.Context) error {
	e.corralConfig = filepath.Join(e.work, "corral.kubeconfig")
	return harness.InstallCorral(ctx, e.cluster, e.corralConfig)
}

// startFake starts the fake GitHub with its runner agent and relaxed secondary rate limits
// (the suite registers far more runners per minute than GitHub's 80 POSTs), its webhooks
// going to corral's receiver. The receiver is enabled when the binary has its flags.
func (e *environment) startFake(ctx context.Context) error {
	o := harness.CorralOptions{Bin: e.corralBin, Kubeconfig: e.corralConfig, LogDir: filepath.Join(e.work, "logs"),
		Args: []string{"--sweep-interval", sweepInterval.String(), "--orphan-grace", orphanGrace.String(), "--zap-log-level", "info"}}
	var err error
	if e.corral, err = harness.NewCorral(o); err != nil {
		return err
	}
	e.fake, err = harness.StartFakeGitHub(harness.FakeOptions{
		Bin: filepath.Join(e.work, "bin", "fake-github"), Dir: filepath.Join(e.work, "fake-github"), LogDir: filepath.Join(e.work, "logs"),
		Args: []string{"--kubeconfig", e.kubeconfig, "--webhook-url", e.corral.WebhookURL(),
			"--job-duration", "1s", "--dispatch-interval", "100ms",
			"--content-creating-per-minute", "5000", "--secondary-points", "100000"},
	})
	if err != nil {
		return err
	}
	e.fakeInfo, e.gh = e.fake.Info, e.fake.Client
	if harness.HasWebhookReceiver(ctx, e.corralBin) {
		e.corral.Options.WebhookSecret = e.fakeInfo.WebhookSecretName
	}
	return e.fake.ApplyWebhookSecret(ctx, e.cluster)
}

// kubectlRun runs kubectl against the admin kubeconfig and returns its standard output.
func (e *environment) kubectlRun(ctx context.Context, args ...string) (string, error) {
	return e.cluster.Kubectl(ctx, args...)
}
