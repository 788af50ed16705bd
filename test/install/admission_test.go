package install

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
