package github

import (
	"errors"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestExpiredTokenIsRefreshed(t *testing.T) {
	// ghinstallation refreshes a token a minute before it expires: with a 62 s lifetime the
	// first token is due for refresh one to two seconds after it was minted.
	e := newEnv(t, githubtest.Options{TokenTTL: 62 * time.Second}, FactoryOptions{})
	c, app := e.orgClient(t)
	minted := time.Now()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.GenerateJITConfig(e.ctx, jit(n)); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.TokenMints(app.InstallationID); got != 1 {
		t.Fatalf("mints before expiry = %d, want 1", got)
	}
	time.Sleep(time.Until(minted.Add(2100 * time.Millisecond)))
	if _, err := c.GenerateJITConfig(e.ctx, jit("d")); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.TokenMints(app.InstallationID); got != 2 {
		t.Errorf("mints after expiry = %d, want 2", got)
	}
}

func TestRevokedTokenIsReplaced(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, app := e.orgClient(t)
	if _, err := c.GenerateJITConfig(e.ctx, jit("a")); err != nil {
		t.Fatal(err)
	}
	e.srv.RevokeInstallationTokens(app.InstallationID)
	if _, err := c.GenerateJITConfig(e.ctx, jit("b")); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if got := e.srv.TokenMints(app.InstallationID); got != 2 {
		t.Errorf("mints = %d, want 2", got)
	}
	if got := e.srv.CallCount(githubtest.EndpointOrgJIT); got != 3 {
		t.Errorf("JIT calls = %d, want 3 (one refused with the revoked token)", got)
	}
	if _, ok := e.srv.Runner("b"); !ok {
		t.Error("runner b not registered")
	}
}

func TestWrongPrivateKeyIsRefused(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	ownKey, err := githubtest.NewPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	app := e.addApp(t, githubtest.AppOptions{PrivateKeyPEM: ownKey})
	data := app.SecretData()
	data[KeyPrivateKey] = testKeyPEM(t) // a valid RSA key, but not the App's
	c := e.client(t, e.scope(t, "acme"), CredentialSource{Key: "ns/wrong", Data: data})
	_, err = c.GenerateJITConfig(e.ctx, jit("a"))
	var auth *AuthError
	if !errors.As(err, &auth) || auth.StatusCode != 401 || auth.Credential != "ns/wrong" {
		t.Fatalf("wrong key: %#v, want AuthError 401", err)
	}
	if e.srv.TokenMints(app.InstallationID) != 0 || e.srv.CallCount(githubtest.EndpointOrgJIT) != 0 {
		t.Error("the fake accepted a JWT signed with the wrong key")
	}
	if e.srv.CallCount(githubtest.EndpointAccessToken) != 1 {
		t.Errorf("token requests = %d, want 1 (no retry of a refused JWT)", e.srv.CallCount(githubtest.EndpointAccessToken))
	}
}
