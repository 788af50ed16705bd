package install

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCopiesInSync: the chart and config/default carry exact copies of generated files
// (Helm and kustomize cannot read outside their directories); `make manifests` refreshes
// them. A difference means someone ran controller-gen or hack/seccomp without it.
func TestCopiesInSync(t *testing.T) {
	root := repoRoot(t)
	pairs := []struct{ source, copyDir string }{
		{"config/crd/bases", "charts/corral/files/crds"},
		{"config/crd/bases", "config/default/generated"},
	}
	for _, p := range pairs {
		sources := yamlFiles(t, filepath.Join(root, p.source))
		if len(sources) == 0 {
			t.Fatalf("no CRDs in %s", p.source)
		}
		for _, name := range sources {
			sameFile(t, filepath.Join(p.source, name), filepath.Join(p.copyDir, name))
		}
		if p.copyDir == "charts/corral/files/crds" {
			if extra := slices.DeleteFunc(yamlFiles(t, filepath.Join(root, p.copyDir)), func(n string) bool {
				return slices.Contains(sources, n)
			}); len(extra) > 0 {
				t.Errorf("%s has CRDs %v that %s does not: run make manifests", p.copyDir, extra, p.source)
			}
		}
	}
	sameFile(t, "config/rbac/role.yaml", "charts/corral/files/rbac/role.yaml")
	sameFile(t, "config/rbac/role.yaml", "config/default/generated/role.yaml")
	sameFile(t, "config/seccomp/podman.json", "charts/corral/files/seccomp/podman.json")
	sameFile(t, "config/admission/runnerclass-policy.yaml", "charts/corral/files/admission/runnerclass-policy.yaml")
}

// sameFile fails t unless the two repository files have the same bytes.
func sameFile(t *testing.T, source, copied string) {
	t.Helper()
	a, b := readRepoFile(t, source), readRepoFile(t, copied)
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s: run `make manifests`", copied, source)
	}
}

// yamlFiles lists the *.yaml file names in dir.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && filepath.Ext(e.Name()) == ".yaml" {
			out = append(out, e.Name())
		}
	}
	return out
}
