//go:build node

package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/harness"
)

// envKeep keeps the work directory (logs) even when every spec passed.
const envKeep = "NODE_KEEP"

// environment is what the suite started: a control plane without fake nodes, one real node,
// the fake GitHub and the corral binary.
type environment struct {
	work, k8sBin, nodeDir string
	images                map[string]string // images.env of hack/node/build-images.sh

	cluster      *harness.Cluster
	corralConfig string
	k8s          client.WithWatch

	fake     *harness.FakeGitHub
	fakeInfo app.Info
	corral   *harness.Corral
	// reports collects the stand-in runners' reports; pods reach it at gateway.
	reports *collector
	gateway string
}

// nodeName is the real node's name (hack/node/up.sh's default).
const nodeName = "corral-node"

// gateway is the node's address on its pod bridge (the first of hack/node/up.sh's POD_CIDR).
const gateway = "10.244.0.1"

func setUp(ctx context.Context) (*environment, error) {
	e := &environment{k8sBin: harness.K8sBin(os.Getenv("NODE_K8S_BIN")), gateway: gateway}
	var err error
	if e.reports, err = startCollector(); err != nil {
		return e, err
	}
	base := filepath.Join(harness.RepoRoot(), ".cache", "node-test")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return e, err
	}
	work, err := os.MkdirTemp(base, time.Now().Format("20060102-150405-"))
	if err != nil {
		return e, err
	}
	// MkdirTemp makes it 0700: pods in a user namespace (hostUsers: false) could not reach
	// their root filesystems below it.
	if err := os.Chmod(work, 0o755); err != nil {
		return e, err
	}
	e.work, e.nodeDir = work, filepath.Join(work, "node")
	for _, dir := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
			return e, err
		}
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "node: "+format+"\n", args...) }
	return e, harness.RunSteps(ctx, logf,
		harness.Step{Name: "build binaries and images", Run: e.build},
		harness.Step{Name: "start the control plane", Run: e.startCluster},
		harness.Step{Name: "join the real node", Run: e.startNode},
		harness.Step{Name: "install Corral", Run: func(ctx context.Context) error {
			e.corralConfig = filepath.Join(e.work, "corral.kubeconfig")
			return harness.InstallCorral(ctx, e.cluster, e.corralConfig)
		}},
		harness.Step{Name: "install the seccomp profile with the chart's installer", Run: e.installSeccompProfile},
		harness.Step{Name: "start the chart's tun device plugin", Run: e.startTunDevicePlugin},
		harness.Step{Name: "start the fake GitHub and corral", Run: e.startFakeAndCorral},
	)
}

func (e *environment) build(ctx context.Context) error {
	for _, b := range []struct{ out, pkg string }{{"fake-github", "./cmd/fake-github"}, {"corral", "./cmd/corral"}} {
		if err := harness.Build(ctx, filepath.Join(e.work, "bin", b.out), b.pkg); err != nil {
			return err
		}
	}
	cache := filepath.Join(e.work, "..", "images")
	cmd := exec.CommandContext(ctx, filepath.Join(harness.RepoRoot(), "hack", "node", "build-images.sh"))
	cmd.Env = append(os.Environ(), "CACHE="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("hack/node/build-images.sh: %w\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(cache, "images.env"))
	if err != nil {
		return err
	}
	e.images = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		e.images[k] = strings.Trim(v, `"`)
	}
	return nil
}

func (e *environment) startCluster(ctx context.Context) error {
	var err error
	e.cluster, err = harness.StartCluster(ctx, harness.ClusterOptions{
		Dir: filepath.Join(e.work, "cluster"), K8sBin: e.k8sBin, Nodes: "none", Install: true, QPS: 50, Burst: 100,
	})
	if err != nil {
		return err
	}
	e.k8s = e.cluster.Client
	return nil
}

func (e *environment) startNode(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(harness.RepoRoot(), "hack", "node", "up.sh"))
	cmd.Env = append(os.Environ(), "D="+e.nodeDir, "KUBECONFIG="+e.cluster.Kubeconfig, "BIN="+e.k8sBin, "OWNER_PID="+strconv.Itoa(os.Getpid()),
		"IMAGES="+e.images["CORRAL_NODE_IMAGES"], "PAUSE_IMAGE="+e.images["CORRAL_NODE_PAUSE_IMAGE"])
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("hack/node/up.sh: %w\n%s", err, out)
	}
	return nil
}

// startFakeAndCorral starts the fake GitHub without its runner agent (the stand-in runner
// in each pod plays the runner) and corral, out of cluster, with its ServiceAccount's token.
func (e *environment) startFakeAndCorral(ctx context.Context) error {
	var err error
	e.corral, err = harness.NewCorral(harness.CorralOptions{Bin: filepath.Join(e.work, "bin", "corral"), Kubeconfig: e.corralConfig,
		LogDir: filepath.Join(e.work, "logs"), Args: []string{"--sweep-interval", "2s", "--orphan-grace", "5s"}})
	if err != nil {
		return err
	}
	e.fake, err = harness.StartFakeGitHub(harness.FakeOptions{
		Bin: filepath.Join(e.work, "bin", "fake-github"), Dir: filepath.Join(e.work, "fake-github"), LogDir: filepath.Join(e.work, "logs"),
		// On the pod gateway, so that the chart's in-cluster controller reaches it too.
		Args: []string{"--listen", e.gateway + ":0", "--webhook-url", e.corral.WebhookURL(), "--content-creating-per-minute", "5000", "--secondary-points", "100000"},
	})
	if err != nil {
		return err
	}
	e.fakeInfo = e.fake.Info
	e.corral.Options.WebhookSecret = e.fakeInfo.WebhookSecretName
	if err := e.fake.ApplyWebhookSecret(ctx, e.cluster); err != nil {
		return err
	}
	return e.corral.Start()
}

// tearDown stops everything in reverse order and returns what the node left on the host
// (hack/node/down.sh --check); the work directory goes unless a spec failed or NODE_KEEP is set.
func (e *environment) tearDown(failed bool) []string {
	if e.corral != nil {
		e.corral.Stop()
	}
	e.fake.Stop()
	e.reports.stop()
	var left []string
	if e.nodeDir != "" {
		down := filepath.Join(harness.RepoRoot(), "hack", "node", "down.sh")
		out, _ := runScript(down, "D="+e.nodeDir)
		fmt.Fprintf(os.Stderr, "node: %s", out)
		if out, err := runScript(down, "D="+e.nodeDir, "--check"); err != nil {
			left = strings.Split(strings.TrimSpace(out), "\n")
		}
	}
	if err := e.cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
	}
	if failed || os.Getenv(envKeep) != "" || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "node: logs kept in %s\n", e.work)
	} else {
		_ = os.RemoveAll(e.work)
	}
	return left
}

// runScript runs a script with extra environment entries (NAME=VALUE) and arguments.
func runScript(path string, args ...string) (string, error) {
	var envs, rest []string
	for _, a := range args {
		if strings.Contains(a, "=") && !strings.HasPrefix(a, "-") {
			envs = append(envs, a)
		} else {
			rest = append(rest, a)
		}
	}
	cmd := exec.Command(path, rest...)
	cmd.Env = append(os.Environ(), envs...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// installSeccompProfile runs the chart's seccomp installer (a DaemonSet copying
// corral/podman.json into the kubelet's seccomp directory) on this node and waits until the
// profile is there.
func (e *environment) installSeccompProfile(ctx context.Context) error {
	if err := e.applyChartDaemonSet(ctx, "seccomp-installer",
		"seccompProfile.install=true",
		"seccompProfile.kubeletSeccompDir="+filepath.Join(e.nodeDir, "kubelet", "seccomp"),
		"seccompProfile.image="+e.images["CORRAL_NODE_RUNNER_IMAGE"],
		"seccompProfile.pauseImage="+e.images["CORRAL_NODE_PAUSE_IMAGE"]); err != nil {
		return err
	}
	profile := filepath.Join(e.nodeDir, "kubelet", "seccomp", "corral", "podman.json")
	if _, err := os.Stat(profile); err != nil {
		return fmt.Errorf("the installer ran but the profile is not on the node: %w", err)
	}
	return nil
}

// tunDevices is how many corral.run/tun the node's plugin advertises.
const tunDevices = 20

// startTunDevicePlugin runs the chart's tun device plugin DaemonSet (the controller image) on
// this node and waits until the node offers corral.run/tun.
func (e *environment) startTunDevicePlugin(ctx context.Context) error {
	repo, tag, _ := strings.Cut(e.images["CORRAL_NODE_CONTROLLER_IMAGE"], ":")
	if err := e.applyChartDaemonSet(ctx, "tun-device-plugin", "tunDevicePlugin.enabled=true",
		"tunDevicePlugin.devices="+strconv.Itoa(tunDevices), "image.repository="+repo, "image.tag="+tag); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := e.cluster.Kubectl(ctx, "get", "node", nodeName, "-o", `jsonpath={.status.allocatable.corral\.run/tun}`)
		if err == nil && strings.TrimSpace(out) == strconv.Itoa(tunDevices) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s does not offer %d corral.run/tun a minute after the plugin started (allocatable: %q, %v)", nodeName, tunDevices, out, err)
		}
		time.Sleep(time.Second)
	}
}

// applyChartDaemonSet renders the chart's templates/NAME.yaml with the values set, applies it
// into the operator's namespace (Pod Security privileged: node agents need hostPaths) and
// waits for its rollout.
func (e *environment) applyChartDaemonSet(ctx context.Context, name string, sets ...string) error {
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(harness.RepoRoot(), "bin", "helm-v3.22.0")
	}
	args := []string{"template", "corral", "charts/corral", "--namespace", harness.OperatorNamespace, "--kube-version", "1.36.3",
		"--show-only", "templates/" + name + ".yaml"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	rendered, err := harness.Run(ctx, harness.RepoRoot(), helm, args...)
	if err != nil {
		return fmt.Errorf("rendering the chart's %s: %w", name, err)
	}
	manifest := filepath.Join(e.work, name+".yaml")
	if err := os.WriteFile(manifest, []byte(rendered), 0o644); err != nil {
		return err
	}
	if _, err := e.cluster.Kubectl(ctx, "label", "--overwrite", "namespace", harness.OperatorNamespace,
		"pod-security.kubernetes.io/enforce=privileged"); err != nil {
		return err
	}
	if _, err := e.cluster.Kubectl(ctx, "apply", "-n", harness.OperatorNamespace, "-f", manifest); err != nil {
		return err
	}
	_, err = e.cluster.Kubectl(ctx, "rollout", "status", "-n", harness.OperatorNamespace, "daemonset/corral-"+name, "--timeout=3m")
	return err
}
