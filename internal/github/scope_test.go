package github

import (
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	good := []struct {
		url    string
		want   Scope
		String string
	}{
		{"https://github.com/acme", Scope{Kind: ScopeOrganization, Host: "github.com", Owner: "acme", APIBase: "https://api.github.com/"}, "org acme"},
		{"https://github.com/acme/", Scope{Kind: ScopeOrganization, Host: "github.com", Owner: "acme", APIBase: "https://api.github.com/"}, "org acme"},
		{"https://GitHub.com/Acme/App", Scope{Kind: ScopeRepository, Host: "github.com", Owner: "Acme", Repo: "App", APIBase: "https://api.github.com/"}, "repo Acme/App"},
		{"https://github.com/acme/app.git", Scope{Kind: ScopeRepository, Host: "github.com", Owner: "acme", Repo: "app", APIBase: "https://api.github.com/"}, "repo acme/app"},
		{"https://github.com/acme/.github", Scope{Kind: ScopeRepository, Host: "github.com", Owner: "acme", Repo: ".github", APIBase: "https://api.github.com/"}, "repo acme/.github"},
		{"https://github.com/enterprises/big-co", Scope{Kind: ScopeEnterprise, Host: "github.com", Enterprise: "big-co", APIBase: "https://api.github.com/"}, "enterprise big-co"},
		{" https://github.com/acme ", Scope{Kind: ScopeOrganization, Host: "github.com", Owner: "acme", APIBase: "https://api.github.com/"}, "org acme"},
		{"https://ghes.example.com/acme", Scope{Kind: ScopeOrganization, Host: "ghes.example.com", Owner: "acme", APIBase: "https://ghes.example.com/api/v3/"}, "org acme on ghes.example.com"},
		{"https://ghes.example.com:8443/acme/app", Scope{Kind: ScopeRepository, Host: "ghes.example.com:8443", Owner: "acme", Repo: "app", APIBase: "https://ghes.example.com:8443/api/v3/"}, "repo acme/app on ghes.example.com:8443"},
		{"https://127.0.0.1:41234/enterprises/e", Scope{Kind: ScopeEnterprise, Host: "127.0.0.1:41234", Enterprise: "e", APIBase: "https://127.0.0.1:41234/api/v3/"}, "enterprise e on 127.0.0.1:41234"},
		{"https://[::1]:8443/acme", Scope{Kind: ScopeOrganization, Host: "[::1]:8443", Owner: "acme", APIBase: "https://[::1]:8443/api/v3/"}, "org acme on [::1]:8443"},
		{"https://octo.ghe.com/acme", Scope{Kind: ScopeOrganization, Host: "octo.ghe.com", Owner: "acme", APIBase: "https://api.octo.ghe.com/"}, "org acme on octo.ghe.com"},
		{"https://gh.corp.example/ldap_user", Scope{Kind: ScopeOrganization, Host: "gh.corp.example", Owner: "ldap_user", APIBase: "https://gh.corp.example/api/v3/"}, "org ldap_user on gh.corp.example"},
	}
	for _, tc := range good {
		t.Run(tc.url, func(t *testing.T) {
			got, err := ParseScope(tc.url)
			if err != nil {
				t.Fatalf("ParseScope: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseScope = %+v, want %+v", got, tc.want)
			}
			if got.String() != tc.String {
				t.Errorf("String = %q, want %q", got.String(), tc.String)
			}
		})
	}
	bad := []struct{ url, msg string }{
		{"", "https://"},
		{"http://github.com/acme", "https://"},
		{"github.com/acme", "https://"},
		{"https://github.com", "path must be"},
		{"https://github.com/", "path must be"},
		{"https:///acme", "must name a host"},
		{"https://github.com/acme/app/extra", "not 3 segments"},
		{"https://github.com/acme/app/tree/main", "segments"},
		{"https://github.com/enterprises", "/enterprises/NAME"},
		{"https://github.com/enterprises/", "/enterprises/NAME"},
		{"https://github.com/acme?x=1", "query"},
		{"https://github.com/acme#frag", "fragment"},
		{"https://user:pw@github.com/acme", "user info"},
		{"https://api.github.com/orgs/acme", "use https://github.com/"},
		{"https://www.github.com/acme", "use https://github.com/"},
		{"https://github.com/ac me", "not a valid GitHub name"},
		{"https://github.com/-acme", "not a valid GitHub name"},
		{"https://github.com/acme/..", "not a valid GitHub name"},
		{"https://github.com/acme%2Fapp", "escaped"},
		{"https://github.com/acme//app", "not a valid GitHub name"},
		{"https://github.com/acme/.git", "repository name is empty"},
		{"https://%zz", "not a URL"},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.url, func(t *testing.T) {
			_, err := ParseScope(tc.url)
			if err == nil {
				t.Fatal("ParseScope accepted it")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestScopeRequiredPermission(t *testing.T) {
	cases := map[ScopeKind]string{
		ScopeRepository:   "administration=write",
		ScopeOrganization: "organization_self_hosted_runners=write",
		ScopeEnterprise:   "manage_runners:enterprise",
	}
	for kind, want := range cases {
		if got := (Scope{Kind: kind}).requiredPermission(true); got != want {
			t.Errorf("%s: %q, want %q", kind, got, want)
		}
	}
	if got := (Scope{Kind: ScopeOrganization}).requiredPermission(false); got != "organization_self_hosted_runners=read" {
		t.Errorf("read permission = %q", got)
	}
	if (Scope{}).String() != "invalid scope" {
		t.Error("zero Scope has a name")
	}
}
