package install

import (
	"fmt"
	"strings"
	"testing"
)

// minKubeMinor is the oldest Kubernetes minor the chart installs on, 1.31: the CRDs'
// validation uses CEL's isCIDR and cidr, runner pods the container-level appArmorProfile
// field. charts/corral/templates/kube-version.yaml enforces it; the docs state it.
const minKubeMinor = 31

// TestChartKubeVersion: the chart renders without --kube-version (Helm's compiled-in
// default, as CI and Argo CD render it), refuses a version known to be older than 1.31 with
// a message that says what to do, and renders for 1.31 and newer.
func TestChartKubeVersion(t *testing.T) {
	helm := tool(t, "HELM")
	tests := []struct {
		name        string
		kubeVersion string // "" passes no --kube-version
		refused     bool
	}{
		{"no --kube-version", "", false},
		{"the floor's minor", fmt.Sprintf("1.%d", minKubeMinor), false},
		{"the floor's first release", fmt.Sprintf("1.%d.0", minKubeMinor), false},
		{"the tested version", kubeVersion, false},
		{"1.36", "1.36", false},
		{"the minor below the floor", fmt.Sprintf("1.%d", minKubeMinor-1), true},
		{"its last patch", fmt.Sprintf("1.%d.99", minKubeMinor-1), true},
		{"1.29, without ValidatingAdmissionPolicy v1", "1.29", true},
		// Helm's default is exactly v1.20.0; any other 1.20 is a version someone stated.
		{"1.20, not Helm's default", "1.20", true},
		{"1.20.15", "1.20.15", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace}
			if tt.kubeVersion != "" {
				args = append(args, "--kube-version", tt.kubeVersion)
			}
			out, err := run(t, helm, args...)
			switch {
			case tt.refused && err == nil:
				t.Errorf("rendered for Kubernetes %s, below the chart's 1.%d", tt.kubeVersion, minKubeMinor)
			case tt.refused && !strings.Contains(err.Error(), fmt.Sprintf("Corral needs Kubernetes 1.%d or newer", minKubeMinor)):
				t.Errorf("refused %s without saying why:\n%v", tt.kubeVersion, err)
			case tt.refused && !strings.Contains(err.Error(), "--kube-version"):
				t.Errorf("the refusal does not say how to render offline:\n%v", err)
			case !tt.refused && err != nil:
				t.Errorf("not rendered for %q: %v", tt.kubeVersion, err)
			case !tt.refused:
				decodeObjects(t, out).mustGet(t, "Deployment", releaseName)
			}
		})
	}
}
