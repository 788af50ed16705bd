package github

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func twoAppClient(t *testing.T, e *env) (*Client, githubtest.App, githubtest.App) {
	a := e.addApp(t, githubtest.AppOptions{})
	b := e.addApp(t, githubtest.AppOptions{})
	return e.client(t, e.scope(t, "acme"), appSource("ns/a", a), appSource("ns/b", b)), a, b
}

func TestJITCallsRotateAcrossCredentials(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, a, b := twoAppClient(t, e)
	for i := range 10 {
		if _, err := c.GenerateJITConfig(e.ctx, jit(fmt.Sprintf("r%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	na, nb := e.srv.CallCountFor(a.Credential, githubtest.EndpointOrgJIT), e.srv.CallCountFor(b.Credential, githubtest.EndpointOrgJIT)
	if na != 5 || nb != 5 {
		t.Errorf("JIT calls per credential = %d/%d, want 5/5", na, nb)
	}
	if _, err := c.ListRunners(e.ctx, "p-"); err != nil {
		t.Fatal(err)
	}
	if e.srv.CallCountFor(a.Credential, githubtest.EndpointOrgRunners) != 1 {
		t.Error("listing did not use the main credential")
	}
}

func TestRateLimitedCredentialIsSkipped(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, a, b := twoAppClient(t, e)
	e.srv.ExhaustPrimary(a.Credential, time.Hour)
	for i := range 6 {
		if _, err := c.GenerateJITConfig(e.ctx, jit(fmt.Sprintf("r%d", i))); err != nil {
			t.Fatalf("JIT %d: %v", i, err)
		}
	}
	if got := e.srv.CallCountFor(a.Credential, githubtest.EndpointOrgJIT); got != 1 {
		t.Errorf("limited credential got %d JIT calls, want 1 (the one that found the limit)", got)
	}
	if got := e.srv.CallCountFor(b.Credential, githubtest.EndpointOrgJIT); got != 6 {
		t.Errorf("other credential got %d JIT calls, want 6", got)
	}
	// Reads fail over too.
	if _, err := c.ListRunners(e.ctx, "p-"); err != nil {
		t.Errorf("ListRunners with the main credential limited: %v", err)
	}
}

func TestAllCredentialsLimited(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, a, b := twoAppClient(t, e)
	e.srv.ExhaustPrimary(a.Credential, 30*time.Minute)
	e.srv.TriggerSecondary(b.Credential, 10*time.Minute)
	_, err := c.GenerateJITConfig(e.ctx, jit("x"))
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Credential != "ns/b" || !rl.Secondary || !within(rl.RetryAfter, 10*time.Minute, 2*time.Second) {
		t.Fatalf("all limited: %#v, want the earliest reset (ns/b in 10m)", err)
	}
	calls := e.srv.TotalCalls()
	_, err = c.GenerateJITConfig(e.ctx, jit("y"))
	if !errors.As(err, &rl) || !within(rl.RetryAfter, 10*time.Minute, 2*time.Second) {
		t.Fatalf("second call: %#v", err)
	}
	if e.srv.TotalCalls() != calls {
		t.Error("calls reached GitHub while every credential was known to be limited")
	}
}

func TestLimitLiftsAtReset(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	e := newEnv(t, githubtest.Options{}, FactoryOptions{Now: clock})
	c, a, _ := twoAppClient(t, e)
	e.srv.TriggerSecondary(a.Credential, 20*time.Second)
	if _, err := c.ListRunners(e.ctx, "p-"); err != nil {
		t.Fatal(err)
	}
	e.srv.ClearRateLimits()
	calls := e.srv.CallCountFor(a.Credential, githubtest.EndpointOrgRunners)
	if _, err := c.ListRunners(e.ctx, "p-"); err != nil {
		t.Fatal(err)
	}
	if e.srv.CallCountFor(a.Credential, githubtest.EndpointOrgRunners) != calls {
		t.Error("limited credential used before its reset")
	}
	now = now.Add(21 * time.Second)
	if rl := c.creds[0].limited(); rl != nil {
		t.Errorf("credential still limited after its reset: %v", rl)
	}
}
