package githubtest_test

import (
	"testing"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestRunnerMatchesJob(t *testing.T) {
	r := githubtest.Runner{Labels: []string{"GPU"}}
	for _, tc := range []struct {
		job  []string
		arch string
		want bool
	}{
		{[]string{"self-hosted", "linux", "gpu"}, "x64", true},
		{[]string{"Self-Hosted", "GPU", "X64"}, "x64", true},
		{[]string{"self-hosted", "arm64"}, "x64", false},
		{[]string{"self-hosted", "arm64"}, githubtest.ArchLabel("arm64"), true},
		{nil, "x64", false}, // a job without labels cannot target a self-hosted runner
	} {
		if got := r.MatchesJob(tc.job, tc.arch); got != tc.want {
			t.Errorf("MatchesJob(%q, %s) = %t, want %t", tc.job, tc.arch, got, tc.want)
		}
	}
	if githubtest.ArchLabel("amd64") != "x64" || githubtest.ArchLabel("arm") != "arm" {
		t.Error("ArchLabel maps Kubernetes architectures to the runner's labels")
	}
}
