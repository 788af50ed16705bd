package github

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// TestSecretsNeverLogged drives every call and every error path with logs at the highest
// verbosity and checks that no token, JWT, private key or JIT configuration appears in a
// log line or an error message.
func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{RequestTimeout: 300 * time.Millisecond})
	ownKey, err := githubtest.NewPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	app := e.addApp(t, githubtest.AppOptions{PrivateKeyPEM: ownKey})
	pat := e.srv.AddPAT(githubtest.PATOptions{})
	org := e.scope(t, "acme")
	c := e.client(t, org, appSource("ns/app", app))
	var errs []error
	var configs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	prefix := RunnerNamePrefix("pool", "uid")
	for range 3 {
		cfg, err := c.GenerateJITConfig(e.ctx, jit(NewRunnerName(prefix)))
		note(err)
		configs = append(configs, cfg.Encoded)
		e.logs.logger().Info("registered", "config", cfg) // a careless caller logging the struct
		note(fmt.Errorf("wrapped: %v", cfg))
	}
	rs, err := c.ListRunners(e.ctx, prefix)
	note(err)
	note(c.DeleteRunner(e.ctx, rs[0].ID))
	note(c.DeleteRunner(e.ctx, rs[0].ID))
	_, err = c.GenerateJITConfig(e.ctx, jit(rs[1].Name))
	note(err)
	e.srv.RevokeInstallationTokens(app.InstallationID)
	_, err = c.ListRunners(e.ctx, prefix)
	note(err)
	undo := e.srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgRunners, Status: 503})
	_, err = c.ListRunners(e.ctx, prefix)
	note(err)
	undo()
	undo = e.srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgRunners, Hang: true})
	_, err = c.ListRunners(e.ctx, prefix)
	note(err)
	undo()
	e.srv.TriggerSecondary(app.Credential, time.Minute)
	_, err = c.GenerateJITConfig(e.ctx, jit("limited"))
	note(err)
	wrongKey := app.SecretData()
	wrongKey[KeyPrivateKey] = testKeyPEM(t)
	bad := e.client(t, org, CredentialSource{Key: "ns/wrong", Data: wrongKey})
	_, err = bad.ListRunners(e.ctx, prefix)
	note(err)
	withPAT := e.client(t, org, CredentialSource{Key: "ns/pat", Data: pat.SecretData()})
	_, err = withPAT.GenerateJITConfig(e.ctx, jit("pat-runner"))
	note(err)
	badPAT := e.client(t, org, CredentialSource{Key: "ns/badpat", Data: map[string][]byte{KeyToken: []byte(pat.Token + "zz")}})
	_, err = badPAT.ListRunners(e.ctx, prefix)
	note(err)
	_, err = e.factory.Client(org, []CredentialSource{{Key: "ns/garbage", Data: map[string][]byte{
		KeyAppID: []byte("1"), KeyInstallationID: []byte("2"), KeyPrivateKey: ownKey[:300]}}}, e.conn)
	note(err)

	if len(errs) < 10 {
		t.Fatalf("only %d errors exercised", len(errs))
	}
	secrets := append([]string{pat.Token, "ghs_", "ghp_", "eyJ", "BEGIN", "PRIVATE KEY"}, e.srv.IssuedTokens()...)
	secrets = append(secrets, configs...)
	for _, line := range strings.Split(string(ownKey), "\n")[1:4] {
		secrets = append(secrets, line[:32])
	}
	if len(e.srv.IssuedTokens()) < 2 {
		t.Fatalf("expected at least two minted tokens, got %d", len(e.srv.IssuedTokens()))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "github request") || !strings.Contains(logs, "installation token requested") {
		t.Fatalf("logs do not show the requests; nothing was checked:\n%s", logs)
	}
	if leak := containsAny(logs, secrets...); leak != "" {
		t.Errorf("logs contain secret material %q", leak)
	}
	for _, err := range errs {
		if leak := containsAny(err.Error()+fmt.Sprintf("%+v", err), secrets...); leak != "" {
			t.Errorf("error %q contains secret material %q", err, leak)
		}
	}
}

func TestRedact(t *testing.T) {
	jwtLike := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJl"
	in := strings.Join([]string{
		"token ghs_abcdefghijklmnopqrstuvwxyz0123456789",
		"pat ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
		"fine-grained github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
		"jwt " + jwtLike,
		"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
		"jit " + strings.Repeat("QUJD", 30) + "==",
		"runner p-123abc-xyz12 in org acme (404)",
	}, "\n")
	out := redact(in)
	for _, leak := range []string{"ghs_abc", "ghp_ABC", "github_pat_11", jwtLike, "MIIEow", "QUJDQUJD"} {
		if strings.Contains(out, leak) {
			t.Errorf("redact kept %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "runner p-123abc-xyz12 in org acme (404)") {
		t.Errorf("redact damaged an ordinary message:\n%s", out)
	}
}

func TestErrorsCarryNoResponse(t *testing.T) {
	// go-github's errors hold the response and, through it, the request with its
	// Authorization header: the mapped errors must not keep them.
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, _ := e.orgClient(t)
	err := c.DeleteRunner(e.ctx, 12345)
	for u := err; u != nil; u = errors.Unwrap(u) {
		if strings.Contains(fmt.Sprintf("%T", u), "github.ErrorResponse") {
			t.Errorf("error chain holds %T", u)
		}
	}
}
