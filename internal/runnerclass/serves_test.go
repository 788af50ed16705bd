package runnerclass

import (
	"strings"
	"testing"

	"github.com/corral-run/corral/test/gen"
)

// TestServes: a class vouches for the jobs its pools may register runners for, and for no
// other: each row is a delivery a tenant could send signed with its class's secret.
func TestServes(t *testing.T) {
	job := func(host, repo string) JobOrigin {
		owner, _, _ := strings.Cut(repo, "/")
		return JobOrigin{Host: host, Repository: repo, Owner: owner}
	}
	inEnterprise := func(o JobOrigin, slug string) JobOrigin { o.Enterprise = slug; return o }
	for _, tc := range []struct {
		name  string
		class []gen.ClassModifier
		job   JobOrigin
		want  bool
	}{
		{"a repository of an organization the class lists", nil, job("github.com", "acme/app"), true},
		{"organization names compare case-insensitively", nil, job("GitHub.com", "ACME/app"), true},
		{"another organization", nil, job("github.com", "globex/app"), false},
		{"the class's organization on another host", nil, job("ghes.example.com", "acme/app"), false},
		{"a look-alike host", nil, job("github.com.evil.example", "acme/app"), false},
		{"no host in the delivery", nil, job("", "acme/app"), false},
		{"a repository the class lists", []gen.ClassModifier{gen.WithClassOrganizations(), gen.WithClassRepositories("globex/app")},
			job("github.com", "globex/app"), true},
		{"another repository of that owner", []gen.ClassModifier{gen.WithClassOrganizations(), gen.WithClassRepositories("globex/app")},
			job("github.com", "globex/web"), false},
		{"OWNER/* serves every repository of OWNER", []gen.ClassModifier{gen.WithClassOrganizations(), gen.WithClassRepositories("globex/*")},
			job("github.com", "Globex/web"), true},
		{"an enterprise the class lists", []gen.ClassModifier{gen.WithClassOrganizations(), gen.WithClassEnterprises("big")},
			inEnterprise(job("github.com", "initech/app"), "BIG"), true},
		{"an enterprise the class does not list", []gen.ClassModifier{gen.WithClassEnterprises("big")},
			inEnterprise(job("github.com", "initech/app"), "small"), false},
		{"a GHES class and its host with a port", []gen.ClassModifier{gen.WithClassServer("https://ghes.example.com:8443")},
			job("ghes.example.com:8443", "acme/app"), true},
		{"a GHES class and github.com", []gen.ClassModifier{gen.WithClassServer("https://ghes.example.com")},
			job("github.com", "acme/app"), false},
		{"owner and full name disagree", nil, JobOrigin{Host: "github.com", Repository: "globex/app", Owner: "acme"}, false},
		{"no repository", nil, JobOrigin{Host: "github.com", Owner: "acme"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class := gen.RunnerClass("shared", tc.class...)
			got, why := Serves(class, tc.job)
			if got != tc.want {
				t.Fatalf("Serves(%+v) = %v (%s), want %v", tc.job, got, why, tc.want)
			}
			if !got && !strings.Contains(why, "RunnerClass shared") {
				t.Errorf("the refusal does not name the class: %q", why)
			}
			if got && why != "" {
				t.Errorf("served with a reason %q", why)
			}
		})
	}
}
