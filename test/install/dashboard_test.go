package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// metricRef matches a metric name with a label selector in a PromQL expression.
var metricRef = regexp.MustCompile(`([a-z_:][a-z0-9_:]*)\{`)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard: docs/dashboards/corral.json is a Grafana dashboard whose queries use only
// metrics that exist: Corral's own (declared in internal/), controller-runtime's and the Go
// client's process and runtime metrics.
func TestDashboard(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(readRepoFile(t, "docs/dashboards/corral.json"), &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	sources := metricSources(t)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d targets", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, target := range p.Targets {
			refs := metricRef.FindAllStringSubmatch(target.Expr, -1)
			if len(refs) == 0 {
				t.Errorf("panel %q: no metric{...} in %q", p.Title, target.Expr)
			}
			if !strings.Contains(target.Expr, `job=~"$job"`) {
				t.Errorf("panel %q: query ignores the job variable: %q", p.Title, target.Expr)
			}
			for _, m := range refs {
				if !metricExists(t, sources, m[1]) {
					t.Errorf("panel %q: metric %s is not defined by Corral, controller-runtime or client_golang", p.Title, m[1])
				}
			}
		}
	}
}

// metricSource is where metrics with a prefix are declared, and how the declaration spells
// a name.
type metricSource struct {
	prefix string
	dirs   []string
	strip  bool // the source declares the name without the prefix (namespace/subsystem)
}

// metricSources locates the declarations of every metric family the dashboard may use.
func metricSources(t *testing.T) []metricSource {
	t.Helper()
	out, err := run(t, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/controller-runtime", "github.com/prometheus/client_golang")
	if err != nil {
		t.Fatal(err)
	}
	dirs := strings.Fields(string(out))
	if len(dirs) != 2 {
		t.Fatalf("go list -m: %q", out)
	}
	cr, prom := dirs[0], filepath.Join(dirs[1], "prometheus")
	return []metricSource{
		{prefix: "corral_", dirs: []string{filepath.Join(repoRoot(t), "internal")}},
		{prefix: "controller_runtime_", dirs: []string{filepath.Join(cr, "pkg", "internal", "controller", "metrics")}},
		{prefix: "workqueue_", dirs: []string{filepath.Join(cr, "pkg", "metrics")}, strip: true},
		{prefix: "process_", dirs: []string{prom}},
		{prefix: "go_", dirs: []string{prom}},
	}
}

// metricExists reports whether name (or, for a histogram series, its base name) is declared
// as a string literal in the source of its family.
func metricExists(t *testing.T, sources []metricSource, name string) bool {
	t.Helper()
	for _, s := range sources {
		if !strings.HasPrefix(name, s.prefix) {
			continue
		}
		candidates := []string{name}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				candidates = append(candidates, base)
			}
		}
		for _, c := range candidates {
			if s.strip {
				c = strings.TrimPrefix(c, s.prefix)
			}
			if declaredIn(t, s.dirs, `"`+c+`"`) {
				return true
			}
		}
	}
	return false
}

// declaredIn reports whether any non-test .go file directly in dirs contains lit.
func declaredIn(t *testing.T, dirs []string, lit string) bool {
	t.Helper()
	for _, dir := range dirs {
		found := false
		err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
			if err != nil || found || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			found = strings.Contains(string(data), lit)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if found {
			return true
		}
	}
	return false
}
