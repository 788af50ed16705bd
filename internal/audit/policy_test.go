package audit

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenPools are the pools whose policies are pinned in testdata/ (and applied to a real
// API server with Tetragon's CRDs by the controller's envtest suite).
func goldenPools() map[string]*corralv1.RunnerPool {
	return map[string]*corralv1.RunnerPool{
		"default":     gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithAudit()),
		"write-paths": gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithAudit("/etc/", "/home/runner/.docker/")),
	}
}

func TestGoldenPolicies(t *testing.T) {
	for name, pool := range goldenPools() {
		t.Run(name, func(t *testing.T) {
			out, err := yaml.Marshal(Build(pool).Object)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading %s (run go test -update to create it): %v", path, err)
			}
			if diff := cmp.Diff(string(want), string(out)); diff != "" {
				t.Errorf("%s differs (-want +got); run go test -update if the change is intended:\n%s", path, diff)
			}
		})
	}
}

// TestPolicySelectsOnlyThePool: the policy selects the pool's runner pods and nothing else
// (not another pool's, not the JIT Secrets' component), whatever the pool is named.
func TestPolicySelectsOnlyThePool(t *testing.T) {
	p := Build(gen.RunnerPool("a", gen.WithNamespace("team"), gen.WithAudit()))
	sel := p.Object["spec"].(map[string]any)["podSelector"].(map[string]any)["matchLabels"].(map[string]any)
	want := map[string]any{corralv1.LabelPool: "a", corralv1.LabelComponent: corralv1.ComponentRunner}
	if diff := cmp.Diff(want, sel); diff != "" {
		t.Errorf("podSelector (-want +got):\n%s", diff)
	}
	if p.GetNamespace() != "team" || p.GetName() != "a-audit" {
		t.Errorf("policy %s/%s", p.GetNamespace(), p.GetName())
	}
}
