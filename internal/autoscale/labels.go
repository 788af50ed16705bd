package autoscale

import (
	"sort"
	"strings"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Labels every Corral runner answers to besides the pool's own.
const (
	// LabelSelfHosted is carried by every self-hosted runner.
	LabelSelfHosted = "self-hosted"
	// LabelLinux is the OS label: Corral runners are Linux pods.
	LabelLinux = "linux"
)

// NodeArchLabel is the node label whose value in a pool's nodeSelector pins the runners'
// architecture, and with it the architecture label they answer to.
const NodeArchLabel = "kubernetes.io/arch"

// archLabel maps a node architecture to the runner label GitHub uses for it.
func archLabel(nodeArch string) string {
	switch strings.ToLower(nodeArch) {
	case "amd64":
		return "x64"
	case "arm64":
		return "arm64"
	case "arm":
		return "arm"
	}
	return ""
}

// ArchLabel is the architecture label of the pool's runners ("x64", "arm64" or "arm"),
// taken from its nodeSelector kubernetes.io/arch; "" when the pool does not pin one (its
// pods may land on any architecture, so it matches no job that asks for one).
func ArchLabel(pool *corralv1.RunnerPool) string {
	return archLabel(pool.Spec.Template.NodeSelector[NodeArchLabel])
}

// RunnerLabels is every label a pool's runners answer to, lower-case and sorted: the
// pool's labels plus self-hosted, linux and the architecture label when pinned (ArchLabel).
// A job matches the pool when each of its runs-on labels is among them (case-insensitive).
// Register runners with these labels (GitHub compares them case-insensitively too) so that
// GitHub's assignment agrees with Corral's matching.
func RunnerLabels(pool *corralv1.RunnerPool) []string {
	set := labelSet(pool)
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// labelSet is RunnerLabels as a set.
func labelSet(pool *corralv1.RunnerPool) map[string]bool {
	set := map[string]bool{LabelSelfHosted: true, LabelLinux: true}
	if arch := ArchLabel(pool); arch != "" {
		set[arch] = true
	}
	for _, l := range pool.Spec.Labels {
		set[strings.ToLower(l)] = true
	}
	return set
}

// labelsMatch reports whether every job label is in the runner label set, ignoring case.
// A job without labels matches nothing: it cannot target a self-hosted runner.
func labelsMatch(jobLabels []string, runner map[string]bool) bool {
	if len(jobLabels) == 0 {
		return false
	}
	for _, l := range jobLabels {
		if !runner[strings.ToLower(strings.TrimSpace(l))] {
			return false
		}
	}
	return true
}
