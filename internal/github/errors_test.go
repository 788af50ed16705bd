package github

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestTypedErrorsFromTheFake(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{RequestTimeout: 500 * time.Millisecond})
	c, app := e.orgClient(t)
	if _, err := c.GenerateJITConfig(e.ctx, jit("dup")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func() func()
		call  func() error
		is    error
		retry bool
	}{
		{name: "name conflict (409)", call: func() error { _, err := c.GenerateJITConfig(e.ctx, jit("dup")); return err }, is: ErrNameConflict},
		{name: "invalid label (422)", call: func() error {
			_, err := c.GenerateJITConfig(e.ctx, JITRequest{Name: "x1", RunnerGroupID: 1, Labels: []string{" "}})
			return err
		}, is: ErrInvalidRequest},
		{name: "unknown group (404)", call: func() error {
			_, err := c.GenerateJITConfig(e.ctx, JITRequest{Name: "x2", RunnerGroupID: 999, Labels: []string{"a"}})
			return err
		}, is: ErrNotFound},
		{name: "gone runner (404)", call: func() error { return c.DeleteRunner(e.ctx, 987654) }, is: ErrNotFound},
		{name: "server error (502)", setup: func() func() {
			return e.srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgRunners, Status: 502})
		}, call: func() error { _, err := c.ListRunners(e.ctx, "p-"); return err }, is: ErrTransient, retry: true},
		{name: "server error (500) on token mint", setup: func() func() {
			// A fresh App has no token yet.
			return e.srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointAccessToken, Status: 500})
		}, call: func() error {
			fresh := e.client(t, e.scope(t, "acme"), appSource("ns/fresh", e.addApp(t, githubtest.AppOptions{})))
			_, err := fresh.ListRunners(e.ctx, "p-")
			return err
		}, is: ErrTransient, retry: true},
		{name: "timeout", setup: func() func() {
			return e.srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgRunners, Hang: true})
		}, call: func() error { _, err := c.ListRunners(e.ctx, "p-"); return err }, is: ErrTransient, retry: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				defer tc.setup()()
			}
			err := tc.call()
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if IsRetryable(err) != tc.retry {
				t.Errorf("IsRetryable = %t, want %t", IsRetryable(err), tc.retry)
			}
		})
	}
	if e.srv.TokenMints(app.InstallationID) != 1 {
		t.Errorf("errors made the client mint %d tokens", e.srv.TokenMints(app.InstallationID))
	}
}

func TestAuthErrors(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	readOnly := e.addApp(t, githubtest.AppOptions{Installation: githubtest.InstallationOptions{
		Permissions: map[string]string{githubtest.PermissionOrgRunners: "read"}}})
	c := e.client(t, e.scope(t, "acme"), appSource("ns/ro", readOnly))
	if _, err := c.ListRunners(e.ctx, "p-"); err != nil {
		t.Fatalf("read with read permission: %v", err)
	}
	_, err := c.GenerateJITConfig(e.ctx, jit("x"))
	var auth *AuthError
	if !errors.As(err, &auth) || auth.StatusCode != 403 || auth.Permission != "organization_self_hosted_runners=write" || auth.Credential != "ns/ro" {
		t.Fatalf("JIT without write permission: %#v", err)
	}
	if !strings.Contains(err.Error(), "organization_self_hosted_runners=write") {
		t.Errorf("message %q does not name the permission", err)
	}
	if IsRetryable(err) {
		t.Error("an AuthError is retryable")
	}

	// A credential whose installation belongs to another App: GitHub answers 404 on mint.
	stray := e.addApp(t, githubtest.AppOptions{})
	other := e.addApp(t, githubtest.AppOptions{})
	data := stray.SecretData()
	data[KeyInstallationID] = []byte("4242")
	_ = other
	c2 := e.client(t, e.scope(t, "acme"), CredentialSource{Key: "ns/stray", Data: data})
	if _, err := c2.ListRunners(e.ctx, "p-"); !errors.As(err, &auth) || auth.StatusCode != 404 {
		t.Errorf("unknown installation: %v, want AuthError 404", err)
	}

	pat := e.srv.AddPAT(githubtest.PATOptions{})
	bad := e.client(t, e.scope(t, "acme"), CredentialSource{Key: "ns/pat", Data: map[string][]byte{KeyToken: []byte(pat.Token + "x")}})
	if _, err := bad.ListRunners(e.ctx, "p-"); !errors.As(err, &auth) || auth.StatusCode != 401 {
		t.Errorf("wrong token: %v, want AuthError 401", err)
	}
}

func TestRateLimitErrors(t *testing.T) {
	for _, status := range []int{403, 429} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			e := newEnv(t, githubtest.Options{RateLimitStatus: status}, FactoryOptions{})
			c, app := e.orgClient(t)
			e.srv.ExhaustPrimary(app.Credential, 30*time.Minute)
			_, err := c.GenerateJITConfig(e.ctx, jit("r1"))
			var rl *RateLimitError
			if !errors.As(err, &rl) || rl.Secondary || !within(rl.RetryAfter, 30*time.Minute, 2*time.Second) || rl.Credential != "ns/app" {
				t.Fatalf("primary limit: %#v", err)
			}
			if !IsRetryable(err) || !within(RetryAfter(err), 30*time.Minute, 2*time.Second) {
				t.Errorf("IsRetryable/RetryAfter = %t/%s", IsRetryable(err), RetryAfter(err))
			}
			calls := e.srv.CallCount(githubtest.EndpointOrgJIT)
			if _, err := c.GenerateJITConfig(e.ctx, jit("r2")); !errors.As(err, &rl) {
				t.Fatalf("second call: %v", err)
			}
			if e.srv.CallCount(githubtest.EndpointOrgJIT) != calls {
				t.Error("a call was sent to GitHub while the credential was known to be limited")
			}

			e.srv.ClearRateLimits()
			app2 := e.addApp(t, githubtest.AppOptions{})
			c2 := e.client(t, e.scope(t, "acme"), appSource("ns/second", app2))
			e.srv.TriggerSecondary(app2.Credential, 42*time.Second)
			_, err = c2.ListRunners(e.ctx, "p-")
			if !errors.As(err, &rl) || !rl.Secondary || !within(rl.RetryAfter, 42*time.Second, 2*time.Second) {
				t.Fatalf("secondary limit: %#v", err)
			}
		})
	}
}

func TestSecondaryLimitFromPoints(t *testing.T) {
	e := newEnv(t, githubtest.Options{ContentCreatingPerMinute: 3}, FactoryOptions{})
	c, _ := e.orgClient(t)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.GenerateJITConfig(e.ctx, jit(n)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.GenerateJITConfig(e.ctx, jit("d"))
	var rl *RateLimitError
	if !errors.As(err, &rl) || !rl.Secondary || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
		t.Fatalf("fourth POST in a minute: %#v", err)
	}
}

func TestPrimaryBudgetSpentOnSuccess(t *testing.T) {
	// The last allowed request succeeds with x-ratelimit-remaining: 0; the next is refused
	// locally (go-github and the rotation both know the reset) without reaching GitHub.
	e := newEnv(t, githubtest.Options{PrimaryLimit: 3}, FactoryOptions{})
	c, _ := e.orgClient(t)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.GenerateJITConfig(e.ctx, jit(n)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.GenerateJITConfig(e.ctx, jit("d"))
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Secondary || !within(rl.RetryAfter, time.Hour, 5*time.Second) {
		t.Fatalf("after the budget: %#v", err)
	}
	if got := e.srv.CallCount(githubtest.EndpointOrgJIT); got != 3 {
		t.Errorf("JIT calls = %d, want 3: the fourth must not be sent", got)
	}
}

func TestEnterpriseRefusesApps(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	_, err := e.factory.Client(e.scope(t, "enterprises/big"), []CredentialSource{appSource("ns/app", app)}, e.conn)
	if !errors.Is(err, ErrInvalidCredentials) || !strings.Contains(err.Error(), "manage_runners:enterprise") {
		t.Errorf("App for an enterprise: %v", err)
	}
}

func TestOwnerMismatchIsNotFound(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{Installation: githubtest.InstallationOptions{Owner: "elsewhere"}})
	c := e.client(t, e.scope(t, "acme"), appSource("ns/app", app))
	if _, err := c.GenerateJITConfig(e.ctx, jit("x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("installation on another owner: %v, want ErrNotFound", err)
	}
}
