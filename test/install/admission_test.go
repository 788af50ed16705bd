package install

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestChartAdmissionPolicy: the chart's ValidatingAdmissionPolicy and binding are
// config/admission's (the one api/v1alpha1's admission suite runs against a real API
// server), renamed with the release and still bound to each other; admissionPolicy.enabled
// false leaves both out.
func TestChartAdmissionPolicy(t *testing.T) {
	want := decodeObjects(t, readRepoFile(t, "config/admission/runnerclass-policy.yaml"))
	chart := renderChart(t, "")
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		w, g := want.mustGet(t, kind, "corral-runnerclass"), chart.mustGet(t, kind, "corral-runnerclass")
		if diff := cmp.Diff(w.Object["spec"], g.Object["spec"]); diff != "" {
			t.Errorf("%s spec differs from config/admission (-config +chart):\n%s", kind, diff)
		}
		if g.GetNamespace() != "" {
			t.Errorf("%s is cluster-scoped, rendered in %q", kind, g.GetNamespace())
		}
	}
	renamed := renderChart(t, "fullnameOverride: ci-corral")
	b := renamed.mustGet(t, "ValidatingAdmissionPolicyBinding", "ci-corral-runnerclass")
	renamed.mustGet(t, "ValidatingAdmissionPolicy", "ci-corral-runnerclass")
	if got := b.Object["spec"].(map[string]any)["policyName"]; got != "ci-corral-runnerclass" {
		t.Errorf("the renamed binding binds policy %v", got)
	}
	off := renderChart(t, "admissionPolicy: {enabled: false}")
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if len(off.ofKind(kind)) != 0 {
			t.Errorf("%s rendered with admissionPolicy.enabled false", kind)
		}
	}
}

// TestChartKubeVersionCoversThePolicy: admissionregistration.k8s.io/v1
// ValidatingAdmissionPolicy is served from Kubernetes 1.30; the chart's floor is at least
// that.
func TestChartKubeVersionCoversThePolicy(t *testing.T) {
	var chart struct {
		KubeVersion string `json:"kubeVersion"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "charts/corral/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`>=\s*1\.(\d+)`).FindStringSubmatch(chart.KubeVersion)
	if m == nil {
		t.Fatalf("kubeVersion %q has no >=1.N floor", chart.KubeVersion)
	}
	if minor, _ := strconv.Atoi(m[1]); minor < 30 {
		t.Errorf("kubeVersion %q admits clusters without ValidatingAdmissionPolicy v1 (1.30)", chart.KubeVersion)
	}
}
