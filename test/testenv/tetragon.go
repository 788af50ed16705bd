package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TetragonModule is the Tetragon release whose CRDs the audit tests install: its Go module
// carries them (install/kubernetes/tetragon/crds-yaml), so the Go module proxy is the only
// download.
const TetragonModule = "github.com/cilium/tetragon@v1.7.0"

// TetragonCRDs downloads the Tetragon module (once: the module cache keeps it) and returns
// its TracingPolicy and TracingPolicyNamespaced CRDs, Tetragon's own schema.
func TetragonCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	cmd := exec.Command("go", "mod", "download", "-json", TetragonModule)
	cmd.Dir = os.TempDir() // outside any module: nothing is added to go.mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s: %w: %s", TetragonModule, err, strings.TrimSpace(stderr.String()))
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download %s: no module directory (%s%v)", TetragonModule, mod.Error, err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range []string{"cilium.io_tracingpolicies.yaml", "cilium.io_tracingpoliciesnamespaced.yaml"} {
		raw, err := os.ReadFile(filepath.Join(mod.Dir, "install", "kubernetes", "tetragon", "crds-yaml", f))
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", f, err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}
