//go:build bench

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
)

// operatorNamespace is where config/default installs Corral's ServiceAccount and RBAC.
const operatorNamespace = "corral-system"

// environment is what the harness started: a local kwok cluster, two fake GitHubs (one with
// GitHub's published limits and webhooks, one with relaxed limits for the scale phase) and
// the corral binary, all local processes.
type environment struct {
	root, work, k8sBin, clusterDir string
	kubeconfig, corralConfig       string
	cs                             kubernetes.Interface
	k8s                            client.Client

	fake, fakeRelaxed         *process
	info, infoRelaxed         app.Info
	gh, ghRelaxed             *app.Client
	corral                    *process
	metricsURL, webhookAddr   string
	webhookURL                string
	cfg                       config
	apiserverRoot, adminToken string
}

// setUp builds the binaries and starts the cluster, the fakes and corral.
func setUp(ctx context.Context, cfg config) (*environment, error) {
	e := &environment{cfg: cfg}
	_, file, _, _ := runtime.Caller(0)
	e.root = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	e.k8sBin = cfg.k8sBin
	if e.k8sBin == "" {
		e.k8sBin = filepath.Join(e.root, "bin", "k8s", "1.36.3-"+runtime.GOOS+"-"+runtime.GOARCH)
	}
	e.work = filepath.Join(e.root, ".cache", "bench")
	e.clusterDir = filepath.Join(e.root, ".cache", "bench-cluster")
	for _, dir := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(e.work, dir), 0o755); err != nil {
			return e, fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"build binaries", e.build},
		{"start the cluster", e.startCluster},
		{"install Corral", e.install},
		{"start the fake GitHubs", e.startFakes},
		{"start corral", e.startCorral},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(ctx); err != nil {
			return e, fmt.Errorf("%s: %w", s.name, err)
		}
		logf("%s took %s", s.name, time.Since(start).Round(100*time.Millisecond))
	}
	return e, nil
}

// tearDown stops everything setUp started, in reverse order.
func (e *environment) tearDown() {
	e.corral.stop(10 * time.Second)
	e.fake.stop(5 * time.Second)
	e.fakeRelaxed.stop(5 * time.Second)
	cmd := exec.Command(filepath.Join(e.root, "hack", "cluster", "down.sh"))
	cmd.Env = append(os.Environ(), "D="+e.clusterDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		logf("stopping the cluster: %v\n%s", err, out)
	}
}

func (e *environment) build(ctx context.Context) error {
	for pkg, out := range map[string]string{"./cmd/corral": "corral", "./cmd/fake-github": "fake-github"} {
		if _, err := e.run(ctx, "go", "build", "-o", filepath.Join(e.work, "bin", out), pkg); err != nil {
			return err
		}
	}
	return nil
}

func (e *environment) startCluster(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(e.root, "hack", "cluster", "up.sh"))
	cmd.Env = append(os.Environ(), "D="+e.clusterDir, "BIN="+e.k8sBin, "OWNER_PID="+strconv.Itoa(os.Getpid()),
		"NODES="+filepath.Join(e.root, "test", "bench", "testdata", "nodes.yaml"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("hack/cluster/up.sh: %w\n%s", err, out)
	}
	e.kubeconfig = filepath.Join(e.clusterDir, "kubeconfig")
	rc, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", e.kubeconfig, err)
	}
	rc.QPS, rc.Burst = 500, 1000
	e.apiserverRoot, e.adminToken = rc.Host, rc.BearerToken
	if e.cs, err = kubernetes.NewForConfig(rc); err != nil {
		return fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("registering Kubernetes types: %w", err)
	}
	if err := corralv1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("registering corral types: %w", err)
	}
	if e.k8s, err = client.New(rc, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return nil
}

// install applies hack/cluster/install and writes a kubeconfig with the token of Corral's
// ServiceAccount, so that corral runs with the RBAC rules it ships (as the e2e suite does).
func (e *environment) install(ctx context.Context) error {
	if _, err := e.kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-k", filepath.Join(e.root, "hack", "cluster", "install")); err != nil {
		return err
	}
	if _, err := e.kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd/runnerpools.corral.run"); err != nil {
		return err
	}
	token, err := e.kubectl(ctx, "create", "token", "corral", "-n", operatorNamespace, "--duration=6h")
	if err != nil {
		return err
	}
	e.corralConfig = filepath.Join(e.work, "corral.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: corral, user: {token: %q}}]
contexts: [{name: local, context: {cluster: local, user: corral}}]
current-context: local
`, e.apiserverRoot, strings.TrimSpace(token))
	if err := os.WriteFile(e.corralConfig, []byte(kc), 0o600); err != nil {
		return fmt.Errorf("writing corral's kubeconfig: %w", err)
	}
	return nil
}

// startFakes starts the fake GitHub with GitHub's published limits (bursts, churn, cost) and
// a second one with relaxed limits and no webhooks, for the 1,000-runner scale phase.
func (e *environment) startFakes(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.webhookAddr = fmt.Sprintf("127.0.0.1:%d", port)
	e.webhookURL = "http://" + e.webhookAddr + "/webhook"
	bin := filepath.Join(e.work, "bin", "fake-github")
	dir := filepath.Join(e.work, "fake-github")
	_ = os.RemoveAll(dir)
	e.fake, err = startProcess("fake-github", filepath.Join(e.work, "logs", "fake-github.log"), bin,
		"serve", "--dir", dir, "--kubeconfig", e.kubeconfig, "--webhook-url", e.webhookURL,
		"--namespace", nsLimits, "--job-duration", e.cfg.jobDuration.String(), "--dispatch-interval", "100ms")
	if err != nil {
		return err
	}
	if e.info, err = waitInfo(e.fake, dir); err != nil {
		return err
	}
	dirR := filepath.Join(e.work, "fake-github-relaxed")
	_ = os.RemoveAll(dirR)
	e.fakeRelaxed, err = startProcess("fake-github-relaxed", filepath.Join(e.work, "logs", "fake-github-relaxed.log"), bin,
		"serve", "--dir", dirR, "--kubeconfig", e.kubeconfig, "--namespace", nsScale,
		"--content-creating-per-minute", "100000", "--secondary-points", "10000000",
		"--secret-name", "github-app-relaxed", "--ca-configmap-name", "github-ca-relaxed")
	if err != nil {
		return err
	}
	if e.infoRelaxed, err = waitInfo(e.fakeRelaxed, dirR); err != nil {
		return err
	}
	e.gh, e.ghRelaxed = app.NewClient(e.info.ControlURL), app.NewClient(e.infoRelaxed.ControlURL)
	for _, c := range []*app.Client{e.gh, e.ghRelaxed} {
		if e.cfg.latency > 0 {
			if err := c.InjectFault(ctx, app.FaultRequest{Latency: e.cfg.latency.String()}); err != nil {
				return fmt.Errorf("injecting %s latency: %w", e.cfg.latency, err)
			}
		}
	}
	for ns, info := range map[string]app.Info{nsLimits: e.info, nsScale: e.infoRelaxed} {
		if _, err := e.kubectl(ctx, "create", "namespace", ns); err != nil {
			return err
		}
		if _, err := e.kubectl(ctx, "apply", "-n", ns, "-f", info.CredentialsManifest); err != nil {
			return err
		}
	}
	_, err = e.kubectl(ctx, "apply", "-n", operatorNamespace, "-f", e.info.WebhookSecretManifest)
	return err
}

// startCorral starts corral with its production defaults, apart from its listen addresses.
func (e *environment) startCorral(_ context.Context) error {
	metrics, err := freePort()
	if err != nil {
		return err
	}
	probe, err := freePort()
	if err != nil {
		return err
	}
	e.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
	args := []string{"--kubeconfig", e.corralConfig, "--leader-elect=false", "--operator-namespace", operatorNamespace,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metrics),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probe),
		"--webhook-bind-address", e.webhookAddr, "--webhook-path", "/webhook",
		"--webhook-secret", operatorNamespace + "/" + e.info.WebhookSecretName}
	e.corral, err = startProcess("corral", filepath.Join(e.work, "logs", "corral.log"), filepath.Join(e.work, "bin", "corral"),
		append(args, e.cfg.corralFlags...)...)
	if err != nil {
		return err
	}
	return waitHTTP(e.corral, fmt.Sprintf("http://127.0.0.1:%d/readyz", probe), time.Minute)
}

func (e *environment) kubectl(ctx context.Context, args ...string) (string, error) {
	return e.run(ctx, filepath.Join(e.k8sBin, "kubectl"), append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
}

func (e *environment) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// process is a child process logging to a file, stopped by its PID only.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProcess(name, logPath, bin string, args ...string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILL.
func (p *process) stop(grace time.Duration) {
	if p == nil || !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func waitInfo(p *process, dir string) (app.Info, error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if info, err := app.ReadInfo(dir); err == nil {
			return info, nil
		}
		if !p.running() {
			return app.Info{}, fmt.Errorf("%s exited (%v) before it was ready", p.name, p.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return app.Info{}, fmt.Errorf("%s not ready within a minute", p.name)
}

func waitHTTP(p *process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited (%v) before %s answered", p.name, p.err, url)
		}
		if resp, err := c.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 at %s within %s", p.name, url, timeout)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
