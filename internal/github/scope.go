package github

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ScopeKind is where runners register: a repository, an organization or an enterprise.
type ScopeKind string

// Scope kinds.
const (
	ScopeRepository   ScopeKind = "Repository"
	ScopeOrganization ScopeKind = "Organization"
	ScopeEnterprise   ScopeKind = "Enterprise"
)

// Scope is a parsed pool URL: where runners register and which API serves it.
type Scope struct {
	// Kind of scope.
	Kind ScopeKind
	// Host is "github.com", a GHE.com host or a GitHub Enterprise Server host, with the port
	// when the URL had one.
	Host string
	// Owner is the organization or user (Repository and Organization scopes).
	Owner string
	// Repo is the repository name (Repository scope).
	Repo string
	// Enterprise is the enterprise slug (Enterprise scope).
	Enterprise string
	// APIBase is the REST API root with a trailing slash: https://api.github.com/ for
	// github.com, https://api.SUBDOMAIN.ghe.com/ for GHE.com, https://HOST/api/v3/ for GHES.
	APIBase string
}

const githubHost = "github.com"

// ownerPattern is what GitHub (and GHES, which keeps LDAP/SAML user names) allows in
// owner and enterprise names; repoPattern what it allows in repository names.
var (
	ownerPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	repoPattern  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
)

// ParseScope derives the runner scope and API base from a pool's GitHub URL:
// https://HOST/ORG, https://HOST/OWNER/REPO or https://HOST/enterprises/SLUG, where HOST is
// github.com, a GHE.com host or a GitHub Enterprise Server host.
func ParseScope(rawURL string) (Scope, error) {
	fail := func(format string, args ...any) (Scope, error) {
		return Scope{}, fmt.Errorf("github url %q: %s", rawURL, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return fail("not a URL")
	}
	switch {
	case u.Scheme != "https":
		return fail("must be an https:// URL, e.g. https://github.com/my-org")
	case u.Host == "" || u.Hostname() == "":
		return fail("must name a host, e.g. https://github.com/my-org")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fail("must not carry user info, a query or a fragment")
	}
	host := strings.ToLower(u.Host)
	if host == "api.github.com" || host == "www.github.com" {
		return fail("use https://github.com/..., the address of the organization, repository or enterprise")
	}
	if strings.Contains(u.EscapedPath(), "%") && strings.Contains(rawURL, "%") {
		return fail("path must not contain escaped characters")
	}
	path := strings.Trim(u.Path, "/")
	if path == "" {
		return fail("path must be /ORG, /OWNER/REPO or /enterprises/NAME")
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		valid := ownerPattern.MatchString(s)
		if i == 1 {
			valid = repoPattern.MatchString(s) && s != "." && s != ".."
		}
		if !valid {
			return fail("path segment %q is not a valid GitHub name", s)
		}
	}
	sc := Scope{Host: host, APIBase: apiBase(host)}
	switch {
	case len(segs) == 1 && segs[0] == "enterprises":
		return fail("enterprise URL must be /enterprises/NAME")
	case len(segs) == 1:
		sc.Kind, sc.Owner = ScopeOrganization, segs[0]
	case len(segs) == 2 && segs[0] == "enterprises":
		sc.Kind, sc.Enterprise = ScopeEnterprise, segs[1]
	case len(segs) == 2:
		sc.Kind, sc.Owner, sc.Repo = ScopeRepository, segs[0], strings.TrimSuffix(segs[1], ".git")
		if sc.Repo == "" {
			return fail("repository name is empty")
		}
	default:
		return fail("path must be /ORG, /OWNER/REPO or /enterprises/NAME, not %d segments", len(segs))
	}
	return sc, nil
}

// apiBase is the REST API root serving host.
func apiBase(host string) string {
	switch {
	case host == githubHost:
		return "https://api.github.com/"
	case strings.HasSuffix(host, ".ghe.com") && !strings.HasPrefix(host, "api."):
		return "https://api." + host + "/"
	default:
		return "https://" + host + "/api/v3/"
	}
}

// String names the scope for messages, e.g. "org acme" or "repo acme/app on ghes.example.com".
func (s Scope) String() string {
	var out string
	switch s.Kind {
	case ScopeRepository:
		out = "repo " + s.Owner + "/" + s.Repo
	case ScopeOrganization:
		out = "org " + s.Owner
	case ScopeEnterprise:
		out = "enterprise " + s.Enterprise
	default:
		return "invalid scope"
	}
	if s.Host != "" && s.Host != githubHost {
		out += " on " + s.Host
	}
	return out
}

// key identifies the scope in caches.
func (s Scope) key() string {
	return strings.ToLower(strings.Join([]string{s.APIBase, string(s.Kind), s.Owner, s.Repo, s.Enterprise}, "|"))
}

// requiredPermission is what a GitHub App (or fine-grained token) needs on this scope to
// manage runners; for an enterprise, the classic token scope.
func (s Scope) requiredPermission(write bool) string {
	level := "read"
	if write {
		level = "write"
	}
	switch s.Kind {
	case ScopeRepository:
		return "administration=" + level
	case ScopeOrganization:
		return "organization_self_hosted_runners=" + level
	default:
		return "manage_runners:enterprise"
	}
}

// ParseServer returns the host (with its port, lower-case) of a GitHub server URL such as
// https://github.com or https://ghes.example.com: https, a host, and nothing else.
func ParseServer(rawURL string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	switch {
	case err != nil:
		return "", fmt.Errorf("github server %q: not a URL", rawURL)
	case u.Scheme != "https" || u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("github server %q: must be an https:// URL naming a host, e.g. https://github.com", rawURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.Trim(u.Path, "/") != "":
		return "", fmt.Errorf("github server %q: must name only a host, without a path, query, fragment or user info", rawURL)
	}
	return strings.ToLower(u.Host), nil
}
