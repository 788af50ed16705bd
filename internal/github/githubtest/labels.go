package githubtest

import "strings"

// ArchLabel is the architecture label a runner process adds to its labels on a machine of
// Kubernetes architecture nodeArch (the node's kubernetes.io/arch): x64, arm64 or arm.
func ArchLabel(nodeArch string) string {
	switch nodeArch {
	case "arm64":
		return "arm64"
	case "arm":
		return "arm"
	}
	return "x64"
}

// LabelSet is the set of labels, lower-cased, that the runner answers to when its process
// runs on architecture arch (an ArchLabel): its registration's custom labels plus those the
// runner adds itself, self-hosted, linux and arch.
func (r Runner) LabelSet(arch string) map[string]bool {
	set := map[string]bool{"self-hosted": true, "linux": true, strings.ToLower(arch): true}
	for _, l := range r.Labels {
		set[strings.ToLower(l)] = true
	}
	return set
}

// MatchesJob reports whether GitHub may hand a job with runs-on labels jobLabels to the
// runner running on arch: every label is among the runner's, ignoring case. A job without
// labels matches nothing: it cannot target a self-hosted runner.
func (r Runner) MatchesJob(jobLabels []string, arch string) bool {
	set := r.LabelSet(arch)
	for _, l := range jobLabels {
		if !set[strings.ToLower(l)] {
			return false
		}
	}
	return len(jobLabels) > 0
}
