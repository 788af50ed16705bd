package githubtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Endpoints as the fake counts them (method and path template, without /api/v3).
const (
	EndpointAccessToken            = "POST /app/installations/{installation_id}/access_tokens"
	EndpointRepoJIT                = "POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig"
	EndpointOrgJIT                 = "POST /orgs/{org}/actions/runners/generate-jitconfig"
	EndpointEnterpriseJIT          = "POST /enterprises/{enterprise}/actions/runners/generate-jitconfig"
	EndpointRepoRunners            = "GET /repos/{owner}/{repo}/actions/runners"
	EndpointOrgRunners             = "GET /orgs/{org}/actions/runners"
	EndpointEnterpriseRunners      = "GET /enterprises/{enterprise}/actions/runners"
	EndpointRepoRunner             = "GET /repos/{owner}/{repo}/actions/runners/{runner_id}"
	EndpointOrgRunner              = "GET /orgs/{org}/actions/runners/{runner_id}"
	EndpointEnterpriseRunner       = "GET /enterprises/{enterprise}/actions/runners/{runner_id}"
	EndpointRepoDeleteRunner       = "DELETE /repos/{owner}/{repo}/actions/runners/{runner_id}"
	EndpointOrgDeleteRunner        = "DELETE /orgs/{org}/actions/runners/{runner_id}"
	EndpointEnterpriseDeleteRunner = "DELETE /enterprises/{enterprise}/actions/runners/{runner_id}"
	EndpointOrgRunnerGroups        = "GET /orgs/{org}/actions/runner-groups"
	EndpointEnterpriseRunnerGroups = "GET /enterprises/{enterprise}/actions/runner-groups"
)

// ghesPrefix is where a GitHub Enterprise Server serves its REST API.
const ghesPrefix = "/api/v3"

const docsURL = "https://docs.github.com/rest"

// apiError is a GitHub error answer.
type apiError struct {
	status              int
	message             string
	docURL              string
	acceptedPermissions string // X-Accepted-GitHub-Permissions
	retryAfter          int    // Retry-After seconds, for secondary rate limits
}

var (
	errRequiresAuth   = &apiError{status: http.StatusUnauthorized, message: "Requires authentication"}
	errBadCredentials = &apiError{status: http.StatusUnauthorized, message: "Bad credentials"}
	errJWTUndecodable = &apiError{status: http.StatusUnauthorized, message: "A JSON web token could not be decoded"}
	errJWTRequired    = &apiError{status: http.StatusUnauthorized, message: "A JSON web token could not be decoded"}
	errJWTIssuedAt    = &apiError{status: http.StatusUnauthorized,
		message: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued."}
	errJWTExpired = &apiError{status: http.StatusUnauthorized,
		message: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires."}
	errJWTTooLong    = &apiError{status: http.StatusUnauthorized, message: "'Expiration time' claim ('exp') is too far in the future."}
	errNotAccessible = &apiError{status: http.StatusForbidden, message: "Resource not accessible by integration"}
	errJWTNotAllowed = errNotAccessible
	errNotFound      = &apiError{status: http.StatusNotFound, message: "Not Found"}
)

type errorBody struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.acceptedPermissions != "" {
		w.Header().Set("X-Accepted-GitHub-Permissions", e.acceptedPermissions)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	doc := e.docURL
	if doc == "" {
		doc = docsURL
	}
	writeJSON(w, e.status, errorBody{Message: e.message, DocumentationURL: doc, Status: strconv.Itoa(e.status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handlerFunc serves an authenticated, rate-limited request.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal)

// scopedFunc serves a request on the runners of one scope.
type scopedFunc func(w http.ResponseWriter, r *http.Request, p *principal, sc Scope)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.route(mux, EndpointAccessToken, s.handleAccessToken)
	kinds := []struct {
		jit, list, get, del, groups string
		scope                       func(*http.Request) Scope
	}{
		{EndpointRepoJIT, EndpointRepoRunners, EndpointRepoRunner, EndpointRepoDeleteRunner, "",
			func(r *http.Request) Scope { return Repo(r.PathValue("owner"), r.PathValue("repo")) }},
		{EndpointOrgJIT, EndpointOrgRunners, EndpointOrgRunner, EndpointOrgDeleteRunner, EndpointOrgRunnerGroups,
			func(r *http.Request) Scope { return Org(r.PathValue("org")) }},
		{EndpointEnterpriseJIT, EndpointEnterpriseRunners, EndpointEnterpriseRunner, EndpointEnterpriseDeleteRunner,
			EndpointEnterpriseRunnerGroups, func(r *http.Request) Scope { return Enterprise(r.PathValue("enterprise")) }},
	}
	for _, k := range kinds {
		s.route(mux, k.jit, s.scoped(k.scope, true, s.handleJIT))
		s.route(mux, k.list, s.scoped(k.scope, false, s.handleListRunners))
		s.route(mux, k.get, s.scoped(k.scope, false, s.handleGetRunner))
		s.route(mux, k.del, s.scoped(k.scope, true, s.handleDeleteRunner))
		if k.groups != "" {
			s.route(mux, k.groups, s.scoped(k.scope, false, s.handleListGroups))
		}
	}
	s.hookRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound) })
	return mux
}

// scoped resolves the scope from the path and checks the caller may use it.
func (s *Server) scoped(scope func(*http.Request) Scope, write bool, h scopedFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		sc := scope(r)
		if e := s.authorize(p, sc, write); e != nil {
			writeError(w, e)
			return
		}
		h(w, r, p, sc)
	}
}

// route serves endpoint at the root and under /api/v3, counting calls, applying faults,
// authenticating and rate-limiting before h runs.
func (s *Server) route(mux *http.ServeMux, endpoint string, hf handlerFunc) {
	method, path, _ := strings.Cut(endpoint, " ")
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-GitHub-Request-Id", randomString(16))
		w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")
		p, authErr := s.authenticate(r)
		cred := ""
		if p != nil {
			cred = p.credential
		}
		s.countCall(endpoint, cred)
		if f := s.takeFault(endpoint, cred); f != nil && !s.applyFault(w, r, f) {
			return
		}
		if authErr != nil {
			s.anonymousHeaders(w)
			writeError(w, authErr)
			return
		}
		if e := s.rateLimit(w, endpoint, p); e != nil {
			writeError(w, e)
			return
		}
		hf(w, r, p)
	})
	mux.Handle(method+" "+path, wrapped)
	mux.Handle(method+" "+ghesPrefix+path, wrapped)
}

func (s *Server) countCall(endpoint, cred string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[endpoint]++
	if cred == "" {
		return
	}
	if s.credCalls[cred] == nil {
		s.credCalls[cred] = map[string]int{}
	}
	s.credCalls[cred][endpoint]++
}

// CallCount is how many requests reached endpoint (one of the Endpoint constants), whatever
// their outcome.
func (s *Server) CallCount(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// CallCountFor is how many requests the credential (App.Credential, PAT.Credential) made to
// endpoint.
func (s *Server) CallCountFor(credential, endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.credCalls[credential][endpoint]
}

// CallsByCredential is how many requests each credential (App.Credential, PAT.Credential, or
// the App's JWT as "app/ID") made, by endpoint. Unauthenticated requests are not in it.
func (s *Server) CallsByCredential() map[string]map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]int, len(s.credCalls))
	for cred, byEndpoint := range s.credCalls {
		out[cred] = make(map[string]int, len(byEndpoint))
		for e, n := range byEndpoint {
			out[cred][e] = n
		}
	}
	return out
}

// TotalCalls is how many requests reached the fake, on any endpoint.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// TokenMints is how many installation tokens were minted for installation id.
func (s *Server) TokenMints(installationID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mints[installationID]
}

// ResetCounts zeroes the call, token-mint and rate-limited counters.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.credCalls = map[string]map[string]int{}
	s.mints = map[int64]int{}
	s.limited = map[string]int{}
}
