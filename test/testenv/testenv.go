// Package testenv starts a real kube-apiserver and etcd (controller-runtime's envtest) with
// Corral's CRDs installed, for the envtest suites of the API and the controller.
//
// The binaries come from bin/k8s/<version>-<os>-<arch>, built from the Go module proxy by
// hack/build-k8s-binaries.sh (`make envtest-assets`); KUBEBUILDER_ASSETS overrides the path.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	apiruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// K8sVersion is the version of the control-plane binaries the suites run against.
const K8sVersion = "1.36.3"

// Env is a running API server with Corral's CRDs.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *apiruntime.Scheme
	env    *envtest.Environment
}

// Options tune the API server.
type Options struct {
	// APIServerArgs are extra kube-apiserver flags, e.g. enabling admission plugins.
	APIServerArgs map[string]string
}

// Start starts etcd and kube-apiserver, installs the CRDs from config/crd/bases and returns
// a client for the Corral and Kubernetes types.
func Start(opts Options) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	scheme := apiruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("registering Kubernetes types: %w", err)
	}
	if err := corralv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("registering corral types: %w", err)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: AssetsDir(root),
		Scheme:                scheme,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	for k, v := range opts.APIServerArgs {
		args.Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (binaries from %s; run 'make envtest-assets'): %w", env.BinaryAssetsDirectory, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// AddUser returns a config that authenticates as a new user name in groups: the API server
// authorizes it with RBAC, so it may do only what Roles bound to it grant.
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", name, err)
	}
	return u.Config(), nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error {
	return e.env.Stop()
}

// AssetsDir is KUBEBUILDER_ASSETS when set, else bin/k8s/<version>-<os>-<arch> under root.
func AssetsDir(root string) string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(root, "bin", "k8s", fmt.Sprintf("%s-%s-%s", K8sVersion, runtime.GOOS, runtime.GOARCH))
}

// RepoRoot finds the directory holding go.mod, walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
