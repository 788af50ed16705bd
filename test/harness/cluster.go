package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// ClusterOptions configure the local control plane of hack/cluster/up.sh.
type ClusterOptions struct {
	// Dir is its state directory (kubeconfig, logs, PID files).
	Dir string
	// K8sBin holds the Kubernetes binaries and kwok (see K8sBin).
	K8sBin string
	// Nodes is a manifest of fake nodes; hack/cluster/nodes.yaml when empty.
	Nodes string
	// Install applies hack/cluster/install (Corral's CRD, RBAC, ServiceAccount) before
	// kube-controller-manager starts: its garbage collector then watches RunnerPools at once
	// (it discovers new kinds every 30 s only).
	Install bool
	// QPS and Burst of the clients; client-go's defaults when 0.
	QPS   float32
	Burst int
	// AuditPolicy, when set, is the API server's audit policy file: it then writes the
	// events the policy selects, as JSON lines, to Cluster.AuditLog (ReadAudit reads them).
	AuditPolicy string
}

// Cluster is a local control plane: started by StartCluster (and stopped by Stop), or one
// that ReuseCluster found running.
type Cluster struct {
	Dir, K8sBin string
	// Kubeconfig is the admin kubeconfig.
	Kubeconfig string
	// AuditLog is the API server's audit log (ClusterOptions.AuditPolicy); empty without one.
	AuditLog  string
	Config    *rest.Config
	Client    client.WithWatch
	Clientset kubernetes.Interface
	own       bool
}

// StartCluster checks the binaries and runs hack/cluster/up.sh in o.Dir; the cluster stops
// by itself (a watchdog runs down.sh) when this process is gone.
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	bin := K8sBin(o.K8sBin)
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make e2e-assets`, which builds it (hack/build-k8s-binaries.sh)", b, bin)
		}
	}
	root := RepoRoot()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "cluster", "up.sh"))
	cmd.Env = append(os.Environ(), "D="+o.Dir, "BIN="+bin, "OWNER_PID="+strconv.Itoa(os.Getpid()))
	if o.Nodes != "" {
		cmd.Env = append(cmd.Env, "NODES="+o.Nodes)
	}
	if o.Install {
		cmd.Env = append(cmd.Env, "INSTALL="+filepath.Join(root, "hack", "cluster", "install"))
	}
	if o.AuditPolicy != "" {
		cmd.Env = append(cmd.Env, "AUDIT_POLICY="+o.AuditPolicy)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hack/cluster/up.sh: %w\n%s", err, out)
	}
	c, err := connect(o, true)
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// ReuseCluster connects to a cluster that hack/cluster/up.sh runs in o.Dir; Stop leaves it
// running.
func ReuseCluster(o ClusterOptions) (*Cluster, error) { return connect(o, false) }

func connect(o ClusterOptions, own bool) (*Cluster, error) {
	c := &Cluster{Dir: o.Dir, K8sBin: K8sBin(o.K8sBin), Kubeconfig: filepath.Join(o.Dir, "kubeconfig"), own: own}
	if o.AuditPolicy != "" {
		c.AuditLog = filepath.Join(o.Dir, "logs", "audit.log")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return c, fmt.Errorf("loading %s: %w", c.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	c.Config = cfg
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return c, fmt.Errorf("registering Kubernetes types: %w", err)
	}
	if err := corralv1.AddToScheme(scheme); err != nil {
		return c, fmt.Errorf("registering corral types: %w", err)
	}
	if c.Client, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme}); err != nil {
		return c, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	if c.Clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		return c, fmt.Errorf("creating the Kubernetes clientset: %w", err)
	}
	return c, nil
}

// Stop runs hack/cluster/down.sh for a cluster StartCluster started; a reused one (or nil)
// is left alone.
func (c *Cluster) Stop() error {
	if c == nil || !c.own {
		return nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "cluster", "down.sh"))
	cmd.Env = append(os.Environ(), "D="+c.Dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stopping the cluster: %w\n%s", err, out)
	}
	return nil
}

// Kubectl runs kubectl against the admin kubeconfig and returns its standard output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	return Run(ctx, RepoRoot(), filepath.Join(c.K8sBin, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
}
