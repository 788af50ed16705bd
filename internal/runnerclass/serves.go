package runnerclass

import (
	"fmt"
	"strings"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// JobOrigin is where a workflow job runs, as its webhook delivery names it: what a class
// must serve for the delivery to reach the class's pools.
type JobOrigin struct {
	// Host is the GitHub host of the job's repository (from its html_url), e.g.
	// github.com or ghes.example.com:8443.
	Host string
	// Repository is OWNER/NAME.
	Repository string
	// Owner is the repository's owner (organization or user).
	Owner string
	// Enterprise is the enterprise slug, when the delivery names one.
	Enterprise string
}

// Serves says whether class serves jobs of origin, and why not when it does not (a message
// that names no secret and none of the class's lists). It applies the rules CheckPool
// applies to a pool's URL, to a job: the host is the class's server, and the owner is one
// of its organizations, or the repository (or OWNER/*) one of its repositories, or the
// enterprise one of its enterprises. So a class vouches for exactly the jobs its pools may
// register runners for.
func Serves(class *corralv1.RunnerClass, origin JobOrigin) (bool, string) {
	gh := class.Spec.GitHub
	server, err := github.ParseServer(gh.Server)
	if err != nil {
		return false, fmt.Sprintf("RunnerClass %s has an unusable server", class.Name)
	}
	if origin.Host == "" || !strings.EqualFold(origin.Host, server) {
		return false, fmt.Sprintf("RunnerClass %s serves %s, not host %q", class.Name, server, origin.Host)
	}
	owner, _, ok := strings.Cut(origin.Repository, "/")
	if !ok || owner == "" || (origin.Owner != "" && !strings.EqualFold(owner, origin.Owner)) {
		return false, fmt.Sprintf("RunnerClass %s: the delivery names no consistent repository owner", class.Name)
	}
	switch {
	case containsFold(gh.Organizations, owner),
		containsFold(gh.Repositories, origin.Repository),
		containsFold(gh.Repositories, owner+"/*"),
		origin.Enterprise != "" && containsFold(gh.Enterprises, origin.Enterprise):
		return true, ""
	}
	what := fmt.Sprintf("repository %s", origin.Repository)
	if origin.Enterprise != "" {
		what += fmt.Sprintf(" (enterprise %s)", origin.Enterprise)
	}
	return false, fmt.Sprintf("RunnerClass %s does not serve %s on %s", class.Name, what, server)
}
