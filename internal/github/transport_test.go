package github

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t, githubtest.Options{PrimaryLimit: 100}, FactoryOptions{})
	c, _ := e.orgClient(t)
	for i := range 4 {
		if _, err := c.GenerateJITConfig(e.ctx, jit(fmt.Sprintf("r%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.DeleteRunner(e.ctx, 999999)
	m := e.factory.metrics
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/orgs/{org}/actions/runners/generate-jitconfig", "POST", "201")); got != 4 {
		t.Errorf("JIT requests with 201 = %v, want 4", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/orgs/{org}/actions/runners/{id}", "DELETE", "404")); got != 1 {
		t.Errorf("DELETE 404 = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.mints.WithLabelValues("ns/app", "success")); got != 1 {
		t.Errorf("token mints = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.remaining.WithLabelValues("ns/app")); got != 95 {
		t.Errorf("rate limit remaining = %v, want 95", got)
	}
	if n := testutil.CollectAndCount(m.duration); n == 0 {
		t.Error("no duration observed")
	}
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"corral_github_requests_total", "corral_github_request_duration_seconds",
		"corral_github_rate_limit_remaining", "corral_github_token_mints_total"} {
		if !names[want] {
			t.Errorf("registry lacks %s", want)
		}
	}
	// A second Factory on the same registry shares the collectors instead of panicking.
	other := NewFactory(FactoryOptions{Registerer: e.reg})
	if other.metrics.requests != m.requests {
		t.Error("second Factory did not reuse the registered collectors")
	}
	if NewFactory(FactoryOptions{}).metrics == nil {
		t.Error("no metrics without a registerer")
	}
}

func TestRateLimitedMetric(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, app := e.orgClient(t)
	e.srv.TriggerSecondary(app.Credential, 5*time.Second)
	_, _ = c.ListRunners(e.ctx, "p-")
	if got := testutil.ToFloat64(e.factory.metrics.limited.WithLabelValues("ns/app", "secondary")); got != 1 {
		t.Errorf("rate limited count = %v, want 1", got)
	}
}

func TestResponseSizeCap(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{MaxResponseBytes: 2048})
	c, _ := e.orgClient(t)
	for i := range 40 {
		e.srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: fmt.Sprintf("r%d", i)})
	}
	_, err := c.ListRunners(e.ctx, "p-")
	capped := strings.Contains(err.Error(), "size limit") || strings.Contains(err.Error(), "bytes allowed")
	if !errors.Is(err, ErrTransient) || !capped {
		t.Errorf("oversized answer: %v", err)
	}
}

func TestCappedBody(t *testing.T) {
	read := func(body string, limit int64) (string, error) {
		b, err := io.ReadAll(&cappedBody{rc: io.NopCloser(strings.NewReader(body)), left: limit, what: "GET /x"})
		return string(b), err
	}
	if got, err := read("hello", 5); err != nil || got != "hello" {
		t.Errorf("body at the limit: %q, %v", got, err)
	}
	if _, err := read("hello!", 5); err == nil {
		t.Error("body over the limit read without error")
	}
	if got, err := read("hi", 5); err != nil || got != "hi" {
		t.Errorf("short body: %q, %v", got, err)
	}
}

func TestEndpointOf(t *testing.T) {
	cases := map[string]string{
		"/api/v3/orgs/acme/actions/runners/42":          "/orgs/{org}/actions/runners/{id}",
		"/orgs/acme/actions/runners/generate-jitconfig": "/orgs/{org}/actions/runners/generate-jitconfig",
		"/repos/acme/app/actions/runners":               "/repos/{owner}/{repo}/actions/runners",
		"/enterprises/big/actions/runner-groups":        "/enterprises/{enterprise}/actions/runner-groups",
		"/app/installations/123/access_tokens":          "/app/installations/{id}/access_tokens",
		"/api/v3/app/installations/123/access_tokens":   "/app/installations/{id}/access_tokens",
		"/users/someone":                                "other",
		"/":                                             "/",
		"/repos/acme":                                   "/repos/{owner}",
	}
	for path, want := range cases {
		if got := endpointOf(path); got != want {
			t.Errorf("endpointOf(%q) = %q, want %q", path, got, want)
		}
	}
}
