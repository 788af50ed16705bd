package install

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

const (
	configDoc    = "docs/configuration.md"
	generatedEnd = "<!-- END GENERATED -->"
)

// referenceOf is one generated field reference of docs/configuration.md: a CRD's spec.
type referenceOf struct {
	kind, crd string
	// embedded are fields whose type is a Kubernetes core type: the reference names them
	// and does not list their sub-fields.
	embedded map[string]string
}

func (r referenceOf) begin() string {
	return "<!-- BEGIN GENERATED: " + r.kind + " fields (go test ./test/install -run ConfigurationReference -update) -->"
}

// references are the generated references, in the order the document has them.
func references() []referenceOf {
	return []referenceOf{{
		kind: "RunnerPool", crd: "config/crd/bases/corral.run_runnerpools.yaml",
		embedded: map[string]string{
			"spec.template.affinity":         "Affinity",
			"spec.template.env":              "[]EnvVar",
			"spec.template.imagePullSecrets": "[]LocalObjectReference",
			"spec.template.resources":        "ResourceRequirements",
			"spec.template.tolerations":      "[]Toleration",
			"spec.sandbox.seLinuxOptions":    "SELinuxOptions",
		},
	}, {
		kind: "RunnerClass", crd: "config/crd/bases/corral.run_runnerclasses.yaml",
		embedded: map[string]string{
			"spec.namespaceSelector":                 "LabelSelector",
			"spec.limits.maxResources":               "ResourceList",
			"spec.scheduling.tolerations":            "[]Toleration",
			"spec.network.allowedNamespaceSelectors": "[]LabelSelector",
		},
	}}
}

// TestConfigurationReference: the RunnerPool and RunnerClass field references in
// docs/configuration.md are generated from the CRDs, so they list every field with its
// type, default, bounds and rules.
func TestConfigurationReference(t *testing.T) {
	doc := string(readRepoFile(t, configDoc))
	for _, ref := range references() {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(readRepoFile(t, ref.crd), &crd); err != nil {
			t.Fatal(err)
		}
		spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		var b strings.Builder
		b.WriteString(ref.begin() + "\n\n")
		b.WriteString("| Field | Type | Default | Description |\n|---|---|---|---|\n")
		fieldRows(&b, ref.embedded, "spec", spec, true)
		b.WriteString("\n" + generatedEnd)
		want := b.String()

		start := strings.Index(doc, ref.begin())
		end := start + strings.Index(doc[max(start, 0):], generatedEnd)
		if start < 0 || end < start {
			t.Fatalf("%s lacks the generated %s section markers", configDoc, ref.kind)
		}
		if got := doc[start : end+len(generatedEnd)]; got != want {
			if !*update {
				t.Errorf("%s: the %s reference is stale: run go test ./test/install -run ConfigurationReference -update", configDoc, ref.kind)
			}
			doc = doc[:start] + want + doc[end+len(generatedEnd):]
		}
	}
	if *update {
		if err := os.WriteFile(filepath.Join(repoRoot(t), configDoc), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fieldRows writes one table row per field under s (recursively), sorted by name.
func fieldRows(b *strings.Builder, embedded map[string]string, path string, s apiextensionsv1.JSONSchemaProps, required bool) {
	if path != "spec" {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", path, typeOf(embedded, path, s, required), defaultOf(s), cell(describe(s)))
	}
	if _, ok := embedded[path]; ok || s.XMapType != nil {
		return
	}
	props, req := s.Properties, s.Required
	if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
		props, req = s.Items.Schema.Properties, s.Items.Schema.Required
		path += "[]"
	}
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fieldRows(b, embedded, path+"."+name, props[name], slices.Contains(req, name))
	}
}

// typeOf describes a field's type.
func typeOf(embedded map[string]string, path string, s apiextensionsv1.JSONSchemaProps, required bool) string {
	t := s.Type
	switch {
	case embedded[path] != "":
		t = "Kubernetes `" + embedded[path] + "`"
	case s.XIntOrString:
		t = "quantity"
	case s.Type == "array" && s.Items != nil && s.Items.Schema != nil:
		t = "[]" + s.Items.Schema.Type
	case s.Type == "object" && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
		t = "map[string]" + s.AdditionalProperties.Schema.Type
	case s.XMapType != nil:
		t = "label selector"
	}
	if required {
		t += ", required"
	}
	return t
}

// defaultOf renders a field's default, or "".
func defaultOf(s apiextensionsv1.JSONSchemaProps) string {
	if s.Default == nil {
		return ""
	}
	return "`" + string(s.Default.Raw) + "`"
}

// describe is the field's description plus its bounds, enum and validation rules.
func describe(s apiextensionsv1.JSONSchemaProps) string {
	parts := []string{strings.Join(strings.Fields(s.Description), " ")}
	var bounds []string
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, "`"+strings.Trim(string(e.Raw), `"`)+"`")
		}
		bounds = append(bounds, "one of "+strings.Join(vals, ", "))
	}
	if s.Minimum != nil {
		bounds = append(bounds, fmt.Sprintf("min %g", *s.Minimum))
	}
	if s.Maximum != nil {
		bounds = append(bounds, fmt.Sprintf("max %g", *s.Maximum))
	}
	if s.MaxLength != nil {
		bounds = append(bounds, fmt.Sprintf("max length %d", *s.MaxLength))
	}
	if s.MaxItems != nil {
		bounds = append(bounds, fmt.Sprintf("max %d items", *s.MaxItems))
	}
	if len(bounds) > 0 {
		parts = append(parts, "*"+strings.Join(bounds, "; ")+".*")
	}
	for _, rule := range s.XValidations {
		if rule.Message != "" {
			parts = append(parts, "Rule: "+rule.Message+".")
		}
	}
	return strings.Join(parts, " ")
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// TestChartValuesDocumented: every leaf of values.yaml has a row in docs/configuration.md's
// chart table, and every row names a real value.
func TestChartValuesDocumented(t *testing.T) {
	var values map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, "charts/corral/values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	leaves := valueLeaves(values, "")
	doc := string(readRepoFile(t, configDoc))
	var documented []string
	for _, line := range strings.Split(doc, "\n") {
		if key, ok := strings.CutPrefix(line, "| `"); ok {
			if key, _, _ = strings.Cut(key, "`"); !strings.HasPrefix(key, "spec.") {
				documented = append(documented, key)
			}
		}
	}
	for _, leaf := range leaves {
		if !slices.Contains(documented, leaf) {
			t.Errorf("chart value %s is not documented in %s", leaf, configDoc)
		}
	}
	for _, d := range documented {
		if !slices.Contains(leaves, d) {
			t.Errorf("%s documents chart value %s, which values.yaml does not have", configDoc, d)
		}
	}
}

// valueLeaves lists the dotted paths of values: maps are descended unless empty (a map
// value such as podAnnotations is itself a leaf).
func valueLeaves(v map[string]any, prefix string) []string {
	var out []string
	for k, child := range v {
		path := prefix + k
		if m, ok := child.(map[string]any); ok && len(m) > 0 && !isFreeMap(path) {
			out = append(out, valueLeaves(m, path+".")...)
			continue
		}
		out = append(out, path)
	}
	slices.Sort(out)
	return out
}

// isFreeMap reports whether a values path is a map of user keys (documented as one value).
func isFreeMap(path string) bool {
	return path == "resources" || strings.HasSuffix(path, ".resources")
}
