package install

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/testenv"
)

// TestSamplesValid creates every sample RunnerPool on a real API server with the CRD: each
// decodes strictly into the Go type and passes the CRD's schema and CEL rules.
func TestSamplesValid(t *testing.T) {
	requireInstallTests(t)
	names := sampleFiles(t)
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime; nothing to show
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "samples"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var pool corralv1.RunnerPool
			if err := yaml.UnmarshalStrict(readRepoFile(t, filepath.Join("config/samples", name)), &pool); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if pool.Kind != "RunnerPool" || pool.APIVersion != corralv1.GroupVersion.String() {
				t.Fatalf("sample is a %s %s", pool.APIVersion, pool.Kind)
			}
			if pool.Namespace != "" {
				t.Errorf("sample sets namespace %q; samples are applied with -n", pool.Namespace)
			}
			pool.Namespace = ns.Name
			if err := env.Client.Create(ctx, &pool); err != nil {
				t.Fatalf("the API server rejected it: %v", err)
			}
			var got corralv1.RunnerPool
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&pool), &got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.GitHub.URL == "" || got.Spec.MaxRunners == 0 || got.Spec.Template.Image == "" {
				t.Errorf("stored pool lacks url, maxRunners or the defaulted image: %+v", got.Spec)
			}
		})
	}
}

// TestSamplesListed: the samples kustomization lists every sample file, and only those.
func TestSamplesListed(t *testing.T) {
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "config/samples/kustomization.yaml"), &k); err != nil {
		t.Fatal(err)
	}
	files := sampleFiles(t)
	slices.Sort(k.Resources)
	if !slices.Equal(k.Resources, files) {
		t.Errorf("kustomization lists %v, directory has %v", k.Resources, files)
	}
	want := []string{"org.yaml", "repo.yaml", "enterprise-pat.yaml", "arm64.yaml", "private-endpoints.yaml", "scale-to-zero.yaml"}
	for _, w := range want {
		if !slices.Contains(files, w) {
			t.Errorf("missing sample %s", w)
		}
	}
}

// sampleFiles lists the sample manifests (every YAML file but the kustomization), sorted.
func sampleFiles(t *testing.T) []string {
	t.Helper()
	files := slices.DeleteFunc(yamlFiles(t, filepath.Join(repoRoot(t), "config/samples")), func(n string) bool {
		return n == "kustomization.yaml"
	})
	slices.Sort(files)
	return files
}
