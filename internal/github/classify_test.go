package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gogithub "github.com/google/go-github/v57/github"
)

func TestClassify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cl := classifier{scope: Scope{Kind: ScopeOrganization, Owner: "acme"}, credential: "ns/app", now: func() time.Time { return now }}
	resp := func(code int, headers ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(headers); i += 2 {
			h.Set(headers[i], headers[i+1])
		}
		req := &http.Request{Method: http.MethodPost, URL: &url.URL{Scheme: "https", Host: "api.github.com", Path: "/x"},
			Header: http.Header{"Authorization": {"Bearer ghs_secretsecretsecretsecret"}}}
		return &http.Response{StatusCode: code, Header: h, Request: req, Body: io.NopCloser(bytes.NewReader(nil))}
	}
	ghErr := func(code int, msg string, headers ...string) error {
		return &gogithub.ErrorResponse{Response: resp(code, headers...), Message: msg}
	}
	retry := 90 * time.Second
	reset := strconv.FormatInt(now.Add(20*time.Minute).Unix(), 10)
	cases := []struct {
		name      string
		err       error
		op        operation
		is        error
		limit     time.Duration // > 0: want a *RateLimitError with this RetryAfter
		secondary bool
		auth      int    // > 0: want an *AuthError with this status
		perm      string // with auth 403
	}{
		{name: "go-github refuses before a known primary reset", err: &gogithub.RateLimitError{
			Rate: gogithub.Rate{Limit: 5000, Remaining: 0, Reset: gogithub.Timestamp{Time: now.Add(10 * time.Minute)}}, Response: resp(403), Message: "still exceeded"},
			limit: 10 * time.Minute},
		{name: "go-github refuses before a known secondary reset", err: &gogithub.AbuseRateLimitError{Response: resp(403), RetryAfter: &retry},
			limit: retry, secondary: true},
		{name: "secondary without Retry-After", err: &gogithub.AbuseRateLimitError{Response: resp(403)}, limit: defaultSecondaryWait, secondary: true},
		{name: "429 primary", err: ghErr(429, "API rate limit exceeded", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), limit: 20 * time.Minute},
		{name: "429 secondary", err: ghErr(429, "slow down", "Retry-After", "7"), limit: 7 * time.Second, secondary: true},
		{name: "429 bare", err: ghErr(429, "slow down"), limit: defaultSecondaryWait, secondary: true},
		{name: "403 secondary by message", err: ghErr(403, "You have exceeded a secondary rate limit"), limit: defaultSecondaryWait, secondary: true},
		{name: "primary without reset", err: ghErr(403, "x", "X-RateLimit-Remaining", "0"), limit: time.Second},
		{name: "401", err: ghErr(401, "Bad credentials"), auth: 401},
		{name: "403 with accepted permissions", err: ghErr(403, "Resource not accessible by integration", "X-Accepted-GitHub-Permissions", "administration=write"),
			op: opJIT, auth: 403, perm: "administration=write"},
		{name: "403 read without header", err: ghErr(403, "Resource not accessible by integration"), auth: 403, perm: "organization_self_hosted_runners=read"},
		{name: "404", err: ghErr(404, "Not Found"), is: ErrNotFound},
		{name: "409 on JIT", err: ghErr(409, "Already exists"), op: opJIT, is: ErrNameConflict},
		{name: "422 already exists on JIT", err: ghErr(422, "Validation failed: Runner already exists"), op: opJIT, is: ErrNameConflict},
		{name: "422 invalid on JIT", err: ghErr(422, "Invalid request"), op: opJIT, is: ErrInvalidRequest},
		{name: "422 on delete", err: ghErr(422, "Bad request - Runner is still running a job"), op: opDelete, is: ErrRunnerBusy},
		{name: "500", err: ghErr(500, "Server Error"), is: ErrTransient},
		{name: "504", err: ghErr(504, ""), is: ErrTransient},
		{name: "network", err: &url.Error{Op: "Get", URL: "https://x", Err: errors.New("connection refused")}, is: ErrTransient},
		{name: "canceled", err: fmt.Errorf("x: %w", context.Canceled), is: context.Canceled},
		{name: "mint refused", err: &url.Error{Op: "Post", URL: "https://x", Err: fmt.Errorf("could not refresh: %w",
			&ghinstallation.HTTPError{Response: withBody(resp(401), `{"message":"A JSON web token could not be decoded"}`)})}, auth: 401},
		{name: "mint of unknown installation", err: &ghinstallation.HTTPError{Response: withBody(resp(404), `{"message":"Not Found"}`)}, auth: 404},
		{name: "mint rate limited", err: &ghinstallation.HTTPError{Response: withBody(resp(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), `{}`)},
			limit: 20 * time.Minute},
		{name: "mint server error", err: &ghinstallation.HTTPError{Response: withBody(resp(502), `oops`)}, is: ErrTransient},
		{name: "mint without answer", err: &ghinstallation.HTTPError{RootCause: errors.New("dial tcp: refused")}, is: ErrTransient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := cl.classify(tc.err, tc.op)
			var rl *RateLimitError
			var auth *AuthError
			switch {
			case tc.limit > 0:
				if !errors.As(got, &rl) || rl.RetryAfter != tc.limit || rl.Secondary != tc.secondary || rl.Paced || rl.Credential != "ns/app" ||
					!rl.Reset.Equal(now.Add(tc.limit)) {
					t.Errorf("got %#v, want RateLimitError retry %s secondary %t", got, tc.limit, tc.secondary)
				}
			case tc.auth > 0:
				if !errors.As(got, &auth) || auth.StatusCode != tc.auth || auth.Permission != tc.perm {
					t.Errorf("got %#v, want AuthError %d %q", got, tc.auth, tc.perm)
				}
			default:
				if !errors.Is(got, tc.is) {
					t.Errorf("got %v, want %v", got, tc.is)
				}
			}
			if leak := containsAny(fmt.Sprintf("%v %+v", got, got), "ghs_secret"); leak != "" {
				t.Errorf("error shows %q", leak)
			}
		})
	}
}

func withBody(r *http.Response, body string) *http.Response {
	r.Body = io.NopCloser(bytes.NewBufferString(body))
	return r
}
