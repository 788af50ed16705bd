//go:build bench

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/harness"
)

// operatorNamespace is where config/default installs Corral's ServiceAccount and RBAC.
const operatorNamespace = harness.OperatorNamespace

// corralUser is corral's ServiceAccount as the API server names it (testdata/audit-policy.yaml).
const corralUser = "system:serviceaccount:" + operatorNamespace + ":corral"

// environment is what the harness started: a local kwok cluster, two fake GitHubs (one with
// GitHub's published limits and webhooks, one with relaxed limits for the scale phase) and
// the corral binary, all local processes.
type environment struct {
	work         string
	cluster      *harness.Cluster
	corralConfig string
	cs           kubernetes.Interface
	k8s          client.Client

	fake, fakeRelaxed *harness.FakeGitHub
	gh, ghRelaxed     *app.Client
	fakePull          *harness.FakeGitHub // nil when the pull-mode phase is off
	ghPull            *app.Client
	corral            *harness.Corral
	metricsURL        string
	cfg               config

	audit    *auditTrail // corral's writes, from the API server's audit log
	chartEnv []string    // what the chart sets in corral's environment (chartRuntimeEnv)
	prof     *profiler   // nil when corral serves no profiles
}

// setUp builds the binaries and starts the cluster, the fakes and corral.
func setUp(ctx context.Context, cfg config) (*environment, error) {
	e := &environment{cfg: cfg, work: filepath.Join(harness.RepoRoot(), ".cache", "bench")}
	_ = os.RemoveAll(filepath.Join(e.work, "logs")) // this run's logs only
	for _, dir := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(e.work, dir), 0o755); err != nil {
			return e, fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	return e, harness.RunSteps(ctx, logf,
		harness.Step{Name: "build binaries", Run: e.build},
		harness.Step{Name: "start the cluster", Run: e.startCluster},
		harness.Step{Name: "install Corral", Run: e.install},
		harness.Step{Name: "start the fake GitHubs", Run: e.startFakes},
		harness.Step{Name: "start corral", Run: e.startCorral},
	)
}

// startCorral starts corral as the chart runs it (its GOMEMLIMIT and GOGC, then
// -corral-env), with its profile endpoints when the binary has the flag.
func (e *environment) startCorral(ctx context.Context) error {
	if e.cfg.helm != "" {
		env, err := chartRuntimeEnv(ctx, e.cfg.helm)
		if err != nil {
			return err
		}
		e.chartEnv = env
	}
	e.corral.Options.Env = mergeEnv(e.chartEnv, e.cfg.corralEnv)
	if e.cfg.profiles {
		if harness.HasFlag(ctx, e.corral.Options.Bin, harness.PprofFlag) {
			e.corral.Options.Pprof = true
			e.prof = newProfiler(e.corral.PprofURL(), filepath.Join(e.work, "profiles"))
		} else {
			logf("corral has no %s flag: no profiles", harness.PprofFlag)
		}
	}
	if err := e.prof.reset(); err != nil {
		return err
	}
	return e.corral.Start()
}

// tearDown stops everything setUp started, in reverse order.
func (e *environment) tearDown() {
	if e.corral != nil {
		e.corral.Stop()
	}
	e.fake.Stop()
	e.fakeRelaxed.Stop()
	if e.fakePull != nil {
		e.fakePull.Stop()
	}
	if err := e.cluster.Stop(); err != nil {
		logf("%v", err)
	}
}

func (e *environment) build(ctx context.Context) error {
	for pkg, out := range map[string]string{"./cmd/corral": "corral", "./cmd/fake-github": "fake-github"} {
		if err := harness.Build(ctx, filepath.Join(e.work, "bin", out), pkg); err != nil {
			return err
		}
	}
	return nil
}

func (e *environment) startCluster(ctx context.Context) error {
	var err error
	e.cluster, err = harness.StartCluster(ctx, harness.ClusterOptions{
		Dir: filepath.Join(harness.RepoRoot(), ".cache", "bench-cluster"), K8sBin: e.cfg.k8sBin,
		Nodes: filepath.Join(harness.RepoRoot(), "test", "bench", "testdata", "nodes.yaml"), QPS: 500, Burst: 1000,
		AuditPolicy: filepath.Join(harness.RepoRoot(), "test", "bench", "testdata", "audit-policy.yaml"),
	})
	if err != nil {
		return err
	}
	e.cs, e.k8s = e.cluster.Clientset, e.cluster.Client
	e.audit = newAuditTrail(e.cluster.AuditLog, corralUser)
	return nil
}

// install applies hack/cluster/install and writes a kubeconfig with the token of Corral's
// ServiceAccount, so that corral runs with the RBAC rules it ships (as the e2e suite does).
func (e *environment) install(ctx context.Context) error {
	e.corralConfig = filepath.Join(e.work, "corral.kubeconfig")
	return harness.InstallCorral(ctx, e.cluster, e.corralConfig)
}

// startFakes starts the fake GitHub with GitHub's published limits (bursts, churn, cost) and
// a second one with relaxed limits and no webhooks, for the 1,000-runner scale phase, and,
// with the pull-mode phase, a third whose App's webhook leads nowhere (startPullFake). corral
// (started later, with its production defaults apart from its listen addresses) receives
// the first one's webhooks.
func (e *environment) startFakes(ctx context.Context) error {
	var err error
	e.corral, err = harness.NewCorral(harness.CorralOptions{Bin: filepath.Join(e.work, "bin", "corral"),
		Kubeconfig: e.corralConfig, LogDir: filepath.Join(e.work, "logs"), Args: e.cfg.corralFlags})
	if err != nil {
		return err
	}
	e.metricsURL = e.corral.MetricsURL()
	bin := filepath.Join(e.work, "bin", "fake-github")
	e.fake, err = harness.StartFakeGitHub(harness.FakeOptions{Bin: bin, Dir: filepath.Join(e.work, "fake-github"),
		LogDir: filepath.Join(e.work, "logs"),
		Args: []string{"--kubeconfig", e.cluster.Kubeconfig, "--webhook-url", e.corral.WebhookURL(),
			"--namespace", nsLimits, "--job-duration", e.cfg.jobDuration.String(), "--dispatch-interval", "100ms",
			"--apps", strconv.Itoa(e.cfg.maxCredentials())}})
	if err != nil {
		return err
	}
	e.fakeRelaxed, err = harness.StartFakeGitHub(harness.FakeOptions{Name: "fake-github-relaxed", Bin: bin,
		Dir: filepath.Join(e.work, "fake-github-relaxed"), LogDir: filepath.Join(e.work, "logs"),
		Args: []string{"--kubeconfig", e.cluster.Kubeconfig, "--namespace", nsScale,
			"--content-creating-per-minute", "100000", "--secondary-points", "10000000",
			"--secret-name", "github-app-relaxed", "--ca-configmap-name", "github-ca-relaxed"}})
	if err != nil {
		return err
	}
	fakes := map[string]*harness.FakeGitHub{nsLimits: e.fake, nsScale: e.fakeRelaxed}
	if e.cfg.pullJobs > 0 {
		if err := e.startPullFake(ctx, bin); err != nil {
			return err
		}
		fakes[nsPull] = e.fakePull
	}
	e.gh, e.ghRelaxed = e.fake.Client, e.fakeRelaxed.Client
	e.corral.Options.WebhookSecret = e.fake.Info.WebhookSecretName
	for ns, f := range fakes {
		if e.cfg.latency > 0 {
			if err := f.Client.InjectFault(ctx, app.FaultRequest{Latency: e.cfg.latency.String()}); err != nil {
				return fmt.Errorf("injecting %s latency: %w", e.cfg.latency, err)
			}
		}
		if _, err := e.kubectl(ctx, "create", "namespace", ns); err != nil {
			return err
		}
		if err := f.ApplyCredentials(ctx, e.cluster, ns); err != nil {
			return err
		}
	}
	return e.fake.ApplyWebhookSecret(ctx, e.cluster)
}

func (e *environment) kubectl(ctx context.Context, args ...string) (string, error) {
	return e.cluster.Kubectl(ctx, args...)
}
