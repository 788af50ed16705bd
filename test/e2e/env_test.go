//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
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
const operatorNamespace = "corral-system"

// environment is everything the suite started: a local cluster (or one it reuses), the fake
// GitHub and the corral binary, all local processes.
type environment struct {
	root, work, k8sBin, kubectl string

	clusterDir   string
	ownCluster   bool
	kubeconfig   string // admin
	corralConfig string // the corral ServiceAccount's token

	k8s client.WithWatch

	fake     *process
	fakeInfo app.Info
	gh       *app.Client

	corralBin   string
	corral      *corral
	webhookAddr string // where corral's webhook receiver listens
	webhookURL  string
}

// setUp builds the binaries and starts everything, in order.
func setUp(ctx context.Context) (*environment, error) {
	e := &environment{}
	_, file, _, _ := runtime.Caller(0)
	e.root = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	e.k8sBin = os.Getenv(envK8sBin)
	if e.k8sBin == "" {
		e.k8sBin = filepath.Join(e.root, "bin", "k8s", "1.36.3-"+runtime.GOOS+"-"+runtime.GOARCH)
	}
	e.kubectl = filepath.Join(e.k8sBin, "kubectl")
	if err := os.MkdirAll(filepath.Join(e.root, ".cache", "e2e"), 0o755); err != nil {
		return e, fmt.Errorf("creating .cache/e2e: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Join(e.root, ".cache", "e2e"), time.Now().Format("20060102-150405-"))
	if err != nil {
		return e, fmt.Errorf("creating the work directory: %w", err)
	}
	e.work = work
	for _, dir := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
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
		{"start the fake GitHub", e.startFake},
		{"start corral", e.startCorral},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(ctx); err != nil {
			return e, fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "e2e: %s took %s\n", s.name, time.Since(start).Round(100*time.Millisecond))
	}
	return e, nil
}

// tearDown stops what setUp started, in reverse order, and removes the work directory unless
// a spec failed or E2E_KEEP is set.
func (e *environment) tearDown(failed bool) {
	if e.corral != nil {
		e.corral.stop()
	}
	e.fake.stop(5 * time.Second)
	if e.ownCluster {
		cmd := exec.Command(filepath.Join(e.root, "hack", "cluster", "down.sh"))
		cmd.Env = append(os.Environ(), "D="+e.clusterDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: stopping the cluster: %v\n%s", err, out)
		}
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
	pkgs := map[string]string{"./cmd/fake-github": filepath.Join(e.work, "bin", "fake-github")}
	if e.corralBin = os.Getenv(envCorralBin); e.corralBin == "" {
		e.corralBin = filepath.Join(e.work, "bin", "corral")
		pkgs["./cmd/corral"] = e.corralBin
	}
	for pkg, out := range pkgs {
		if _, err := e.run(ctx, e.root, "go", "build", "-o", out, pkg); err != nil {
			return err
		}
	}
	return nil
}

// startCluster starts hack/cluster/up.sh in the work directory, or reuses E2E_CLUSTER_DIR.
func (e *environment) startCluster(ctx context.Context) error {
	if dir := os.Getenv(envClusterDir); dir != "" {
		e.clusterDir = dir
	} else {
		for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"} {
			if _, err := os.Stat(filepath.Join(e.k8sBin, b)); err != nil {
				return fmt.Errorf("%s missing in %s: run `make test-e2e`, which builds it (hack/build-k8s-binaries.sh)", b, e.k8sBin)
			}
		}
		e.clusterDir, e.ownCluster = filepath.Join(e.work, "cluster"), true
		cmd := exec.CommandContext(ctx, filepath.Join(e.root, "hack", "cluster", "up.sh"))
		// INSTALL: the CRD exists before kube-controller-manager starts, so its garbage
		// collector watches RunnerPools at once (it discovers new kinds every 30 s only).
		cmd.Env = append(os.Environ(), "D="+e.clusterDir, "BIN="+e.k8sBin, "OWNER_PID="+strconv.Itoa(os.Getpid()),
			"INSTALL="+filepath.Join(e.root, "hack", "cluster", "install"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("hack/cluster/up.sh: %w\n%s", err, out)
		}
	}
	e.kubeconfig = filepath.Join(e.clusterDir, "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", e.kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("registering Kubernetes types: %w", err)
	}
	if err := corralv1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("registering corral types: %w", err)
	}
	e.k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return nil
}

// install applies Corral the way users do (config/default without the Deployment: the
// operator runs as a local process) and writes a kubeconfig with the token of its
// ServiceAccount, so that corral runs with exactly the RBAC rules it ships.
func (e *environment) install(ctx context.Context) error {
	if _, err := e.kubectlRun(ctx, "apply", "--server-side", "--force-conflicts", "-k", filepath.Join(e.root, "hack", "cluster", "install")); err != nil {
		return err
	}
	crd := schema.GroupResource{Group: corralv1.GroupVersion.Group, Resource: "runnerpools"}
	if _, err := e.kubectlRun(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crd.String()); err != nil {
		return err
	}
	token, err := e.kubectlRun(ctx, "create", "token", "corral", "-n", operatorNamespace, "--duration=6h")
	if err != nil {
		return err
	}
	server, err := e.kubectlRun(ctx, "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}")
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
`, strings.TrimSpace(server), strings.TrimSpace(token))
	if err := os.WriteFile(e.corralConfig, []byte(kc), 0o600); err != nil {
		return fmt.Errorf("writing corral's kubeconfig: %w", err)
	}
	return nil
}

// startFake starts the fake GitHub with its runner agent and relaxed secondary rate limits
// (the suite registers far more runners per minute than GitHub's 80 POSTs).
func (e *environment) startFake(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.webhookAddr = fmt.Sprintf("127.0.0.1:%d", port)
	e.webhookURL = "http://" + e.webhookAddr + webhookPath
	dir := filepath.Join(e.work, "fake-github")
	e.fake, err = startProcess("fake-github", filepath.Join(e.work, "logs", "fake-github.log"), filepath.Join(e.work, "bin", "fake-github"),
		"serve", "--dir", dir, "--kubeconfig", e.kubeconfig, "--webhook-url", e.webhookURL,
		"--job-duration", "1s", "--dispatch-interval", "100ms",
		"--content-creating-per-minute", "5000", "--secondary-points", "100000")
	if err != nil {
		return err
	}
	if err := waitFile(e.fake, filepath.Join(dir, app.InfoFile), time.Minute); err != nil {
		return err
	}
	if e.fakeInfo, err = app.ReadInfo(dir); err != nil {
		return err
	}
	e.gh = app.NewClient(e.fakeInfo.ControlURL)
	_, err = e.kubectlRun(ctx, "apply", "-n", operatorNamespace, "-f", e.fakeInfo.WebhookSecretManifest)
	return err
}

// kubectlRun runs kubectl against the admin kubeconfig and returns its standard output.
func (e *environment) kubectlRun(ctx context.Context, args ...string) (string, error) {
	return e.run(ctx, e.root, e.kubectl, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
}

// run runs a command and returns its standard output; the error carries its standard error.
func (e *environment) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
