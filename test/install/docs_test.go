package install

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/corral-run/corral/internal/netpol"
)

// installDocs are the docs this package owns and checks.
func installDocs() []string {
	return []string{"docs/install.md", "docs/configuration.md", "docs/troubleshooting.md", "docs/argocd.md", "docs/runner-image.md", "docs/security.md"}
}

// TestTroubleshootingCoversEveryReason: docs/troubleshooting.md has a section for every
// condition reason and names every condition type in api/v1alpha1.
func TestTroubleshootingCoversEveryReason(t *testing.T) {
	doc := string(readRepoFile(t, "docs/troubleshooting.md"))
	for _, r := range conditionReasons(t) {
		if !strings.Contains(doc, "\n### "+r+"\n") {
			t.Errorf("docs/troubleshooting.md has no \"### %s\" section", r)
		}
	}
	for _, c := range conditionTypes(t) {
		if !strings.Contains(doc, "| `"+c+"` |") {
			t.Errorf("docs/troubleshooting.md does not describe condition %s", c)
		}
	}
}

// markdownLink matches [text](target) links.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinks: every relative link in the install docs names an existing file, and every
// #anchor a heading of its target.
func TestDocLinks(t *testing.T) {
	root := repoRoot(t)
	for _, doc := range installDocs() {
		text := string(readRepoFile(t, doc))
		for _, m := range markdownLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := filepath.Join(root, filepath.Dir(doc), file)
			if file == "" {
				path = filepath.Join(root, doc)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Errorf("%s links to %s, which does not exist", doc, target)
				continue
			}
			if anchor == "" {
				continue
			}
			if info.IsDir() || filepath.Ext(path) != ".md" {
				t.Errorf("%s links to anchor %s in a non-Markdown target", doc, target)
				continue
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(headingAnchors(string(data)), anchor) {
				t.Errorf("%s links to %s: no heading with anchor #%s", doc, target, anchor)
			}
		}
	}
}

// headingAnchors returns the GitHub anchors of a Markdown document's headings.
func headingAnchors(doc string) []string {
	var out []string
	inFence := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// TestInstallDocFacts: docs/install.md and the README state the chart's minimum Kubernetes
// version (TestChartKubeVersion holds the chart to it), install.md uses the commands and
// paths that exist, and its Argo CD Applications point at real paths.
func TestInstallDocFacts(t *testing.T) {
	doc := string(readRepoFile(t, "docs/install.md"))
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "charts/corral/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	floor := fmt.Sprintf("1.%d or newer**", minKubeMinor)
	if !strings.Contains(doc, "**Kubernetes "+floor) {
		t.Errorf("install.md does not state the chart's minimum Kubernetes (%q)", "**Kubernetes "+floor)
	}
	if readme := string(readRepoFile(t, "README.md")); !strings.Contains(readme, "Kubernetes **"+floor) {
		t.Errorf("README.md does not state the chart's minimum Kubernetes (%q)", "Kubernetes **"+floor)
	}
	for _, want := range []string{
		"helm install corral charts/corral --namespace " + releaseNamespace,
		"kubectl apply --server-side -k config/default",
		"kubectl apply --server-side -f charts/corral/files/crds/",
		"targetRevision: " + chart.AppVersion,
		"newTag: dev",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("install.md lacks %q", want)
		}
	}
	var kust struct {
		Images []struct {
			NewTag string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "config/default/kustomization.yaml"), &kust); err != nil {
		t.Fatal(err)
	}
	if len(kust.Images) != 1 || kust.Images[0].NewTag != chart.AppVersion {
		t.Errorf("config/default image tag %+v, chart appVersion %s", kust.Images, chart.AppVersion)
	}
	apps := 0
	for _, block := range fencedBlocks(doc, "yaml") {
		var app struct {
			Kind string `json:"kind"`
			Spec struct {
				Source struct {
					Path string `json:"path"`
				} `json:"source"`
			} `json:"spec"`
		}
		if yaml.Unmarshal([]byte(block), &app) != nil || app.Kind != "Application" {
			continue
		}
		apps++
		if _, err := os.Stat(filepath.Join(repoRoot(t), app.Spec.Source.Path)); err != nil {
			t.Errorf("Argo CD Application path %q does not exist", app.Spec.Source.Path)
		}
	}
	if apps == 0 {
		t.Error("install.md has no Argo CD Application manifest")
	}
}

// TestArgoCDDocMatchesScript: docs/argocd.md names the argocd-cm key and the file to merge,
// and lists as Degraded exactly the reasons health.lua treats as needing a user.
func TestArgoCDDocMatchesScript(t *testing.T) {
	doc := string(readRepoFile(t, "docs/argocd.md"))
	for _, want := range []string{argocdHealthKey, argocdCM} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/argocd.md does not mention %s", want)
		}
	}
	var row string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| `ScalingBlocked=True` with `") && strings.HasSuffix(line, "| **Degraded** |") {
			row = line
		}
	}
	documented := regexp.MustCompile("`([A-Za-z]+)`").FindAllStringSubmatch(row, -1)
	var got []string
	for _, m := range documented {
		if m[1] != "ScalingBlocked" {
			got = append(got, m[1])
		}
	}
	var want []string
	for _, m := range regexp.MustCompile(`(?m)^\s+([A-Za-z]+) = true,$`).FindAllStringSubmatch(string(readRepoFile(t, healthScript)), -1) {
		want = append(want, m[1])
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("docs/argocd.md lists %v as Degraded, health.lua %v", got, want)
	}
}

// TestSecurityDocListsTheExceptions: the tables of docs/security.md that say what Internet
// egress excepts name exactly the ranges internal/netpol excepts.
func TestSecurityDocListsTheExceptions(t *testing.T) {
	doc := string(readRepoFile(t, "docs/security.md"))
	_, section, found := strings.Cut(doc, "`Internet` excepts every range")
	section, _, end := strings.Cut(section, "Not listed because")
	if !found || !end {
		t.Fatal("docs/security.md lost its tables of the ranges Internet egress excepts")
	}
	var documented []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 2 {
			continue
		}
		quoted := strings.Split(cells[1], "`")
		for i := 1; i < len(quoted); i += 2 {
			documented = append(documented, quoted[i])
		}
	}
	want := append(netpol.NonPublicIPv4(), netpol.NonPublicIPv6()...)
	slices.Sort(documented)
	slices.Sort(want)
	if diff := cmp.Diff(want, documented); diff != "" {
		t.Errorf("docs/security.md's excepted ranges differ from internal/netpol's (-code +doc):\n%s", diff)
	}
}

// fencedBlocks returns the contents of the ```lang blocks of a Markdown document.
func fencedBlocks(doc, lang string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```"+lang:
			in = true
			cur.Reset()
		case in && strings.TrimSpace(line) == "```":
			in = false
			out = append(out, cur.String())
		case in:
			cur.WriteString(line + "\n")
		}
	}
	return out
}
