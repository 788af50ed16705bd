package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/gen"
)

// FakeOptions configure a fake GitHub process (cmd/fake-github serve).
type FakeOptions struct {
	// Name names the process and its log file (<LogDir>/<Name>.log); "fake-github" when empty.
	Name string
	// Bin is the fake-github binary; Dir its state directory, emptied first (a previous
	// run's info.json would look ready); LogDir where its log goes.
	Bin, Dir, LogDir string
	// Args are the serve command's flags besides --dir (e.g. --kubeconfig, --webhook-url).
	Args []string
}

// FakeGitHub is a running fake GitHub: its process, what it wrote to Info and a client of its
// control API.
type FakeGitHub struct {
	Proc   *Process
	Info   app.Info
	Client *app.Client
}

// StartFakeGitHub starts the fake and waits until it is ready (it wrote its info.json).
func StartFakeGitHub(o FakeOptions) (*FakeGitHub, error) {
	if o.Name == "" {
		o.Name = "fake-github"
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		return nil, fmt.Errorf("emptying %s: %w", o.Dir, err)
	}
	p, err := Start(Command{Name: o.Name, Bin: o.Bin, Log: filepath.Join(o.LogDir, o.Name+".log"),
		Args: append([]string{"serve", "--dir", o.Dir}, o.Args...)})
	if err != nil {
		return nil, err
	}
	f := &FakeGitHub{Proc: p}
	if err := p.WaitFile(filepath.Join(o.Dir, app.InfoFile), time.Minute); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	if f.Info, err = app.ReadInfo(o.Dir); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	f.Client = app.NewClient(f.Info.ControlURL)
	return f, nil
}

// Stop stops the fake (nil is already stopped).
func (f *FakeGitHub) Stop() {
	if f != nil {
		f.Proc.Stop(5 * time.Second)
	}
}

// ApplyCredentials applies the App's credentials Secret and CA ConfigMap into namespace ns,
// with kubectl, as a user would.
func (f *FakeGitHub) ApplyCredentials(ctx context.Context, c *Cluster, ns string) error {
	_, err := c.Kubectl(ctx, "apply", "-n", ns, "-f", f.Info.CredentialsManifest)
	return err
}

// ApplyWebhookSecret applies the webhook secret Secret (for corral's --webhook-secret) into
// the operator's namespace.
func (f *FakeGitHub) ApplyWebhookSecret(ctx context.Context, c *Cluster) error {
	_, err := c.Kubectl(ctx, "apply", "-n", OperatorNamespace, "-f", f.Info.WebhookSecretManifest)
	return err
}

// WithApps makes a pool of this fake use the credentials of its first k Apps (serve --apps):
// the first App's Secret as credentialsSecretRef, the others as
// additionalCredentialsSecretRefs. It fails when the fake has fewer Apps.
func (f *FakeGitHub) WithApps(k int) (gen.PoolModifier, error) {
	names := f.Info.SecretNames(k)
	if len(names) < k || k < 1 {
		return nil, fmt.Errorf("the fake GitHub has %d Apps, not %d: start it with --apps %d", len(f.Info.Apps), k, k)
	}
	return func(p *corralv1.RunnerPool) {
		gen.WithCredentials(names[0])(p)
		gen.WithAdditionalCredentials(names[1:]...)(p)
	}, nil
}

// Pool is a RunnerPool in namespace ns registering with this fake (its org URL, App
// credentials and CA, applied there with ApplyCredentials), with the given modifiers. UID and
// generation are left for the API server to assign.
func (f *FakeGitHub) Pool(ns, name string, mods ...gen.PoolModifier) *corralv1.RunnerPool {
	base := []gen.PoolModifier{
		gen.WithNamespace(ns), gen.WithURL(f.Info.PoolURL), gen.WithCredentials(f.Info.SecretName),
		gen.WithCABundle(f.Info.CAConfigMapName, app.CABundleKey),
	}
	pool := gen.RunnerPool(name, append(base, mods...)...)
	pool.UID, pool.Generation = "", 0
	return pool
}
