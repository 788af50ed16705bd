package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/corral-run/corral/test/testenv"
)

// Rendering defaults: the release and namespace the docs use, the Kubernetes version tested.
const (
	releaseName      = "corral"
	releaseNamespace = "corral-system"
	kubeVersion      = "1.36.3"
	chartDir         = "charts/corral"
)

// repoRoot returns the repository root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// readRepoFile returns a file of the repository, by path relative to its root.
func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// requireInstallTests skips t unless CORRAL_INSTALL_TESTS is set (`make test-install`).
func requireInstallTests(t *testing.T) {
	t.Helper()
	if os.Getenv("CORRAL_INSTALL_TESTS") == "" {
		t.Skip("needs tools and minutes: run `make test-install` (sets CORRAL_INSTALL_TESTS)")
	}
}

// tool returns the path in environment variable env (set by `make test-install`); it fails
// the test when the variable is unset or names no file.
func tool(t *testing.T, env string) string {
	t.Helper()
	requireInstallTests(t)
	path := os.Getenv(env)
	if path == "" {
		t.Fatalf("%s is not set: run `make test-install`", env)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return path
}

// run runs name with args in the repository root and returns its stdout; err carries
// stderr.
func run(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// helmTemplate renders the chart with the given values (YAML documents, merged in order).
func helmTemplate(t *testing.T, values ...string) ([]byte, error) {
	t.Helper()
	helm := tool(t, "HELM")
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace, "--kube-version", kubeVersion}
	dir := t.TempDir()
	for i, v := range values {
		f := filepath.Join(dir, fmt.Sprintf("values-%d.yaml", i))
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
	return run(t, helm, args...)
}

// renderChart renders the chart with values and decodes the objects; it fails t on error.
func renderChart(t *testing.T, values ...string) objects {
	t.Helper()
	out, err := helmTemplate(t, values...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObjects(t, out)
}

// renderKustomize renders a kustomization directory (relative to the repository root).
func renderKustomize(t *testing.T, dir string) objects {
	t.Helper()
	out, err := run(t, tool(t, "KUBECTL"), "kustomize", dir)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObjects(t, out)
}

// objects are decoded manifests.
type objects []*unstructured.Unstructured

// decodeObjects splits a multi-document YAML stream into objects, skipping empty documents.
func decodeObjects(t *testing.T, data []byte) objects {
	t.Helper()
	var out objects
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("decoding %q: %v", firstLine(doc), err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

// get returns the object of kind and name, or nil.
func (o objects) get(kind, name string) *unstructured.Unstructured {
	for _, obj := range o {
		if obj.GetKind() == kind && obj.GetName() == name {
			return obj
		}
	}
	return nil
}

// mustGet returns the object of kind and name, failing t when it is missing.
func (o objects) mustGet(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	obj := o.get(kind, name)
	if obj == nil {
		t.Fatalf("no %s %s among %v", kind, name, o.names())
	}
	return obj
}

// ofKind returns the objects of kind.
func (o objects) ofKind(kind string) objects {
	var out objects
	for _, obj := range o {
		if obj.GetKind() == kind {
			out = append(out, obj)
		}
	}
	return out
}

// names lists kind/namespace/name of every object.
func (o objects) names() []string {
	var out []string
	for _, obj := range o {
		out = append(out, fmt.Sprintf("%s/%s/%s", obj.GetKind(), obj.GetNamespace(), obj.GetName()))
	}
	return out
}

// decode converts obj into a typed object, rejecting fields the type does not have.
func decode[T any](t *testing.T, obj *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return out
}

// firstLine returns the first non-empty line of doc, for error messages.
func firstLine(doc []byte) string {
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.TrimSpace(line) != "" {
			return line
		}
	}
	return ""
}

// writeTemp writes content to a file named name in a test temp directory.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// argValue returns the value of --name=value in args, or "" when absent.
func argValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// itoa formats a port number.
func itoa(n int32) string {
	return strconv.Itoa(int(n))
}
