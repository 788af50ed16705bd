package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestControlAPIReportsWhatTheFakeSaw(t *testing.T) {
	info, c := startServer(t, "")
	ctx := context.Background()
	if _, err := c.Register(ctx, githubtest.RunnerSpec{Name: "seeded", Labels: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.RunnerAction(ctx, "seeded", ActionRemove); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, githubtest.RunnerSpec{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	regs, err := c.Registrations(ctx)
	if err != nil || len(regs) != 2 || regs[0].RemovedBy != githubtest.RemovedByControl || regs[1].RemovedBy != "" ||
		regs[0].Scope != githubtest.Org("acme") {
		t.Fatalf("Registrations = %+v, %v; want seeded (removed) and kept, in the fake's org", regs, err)
	}

	if err := c.InjectFault(ctx, FaultRequest{Probability: 1, Statuses: []int{http.StatusTooManyRequests}, RetryAfter: "3s"}); err != nil {
		t.Fatal(err)
	}
	resp := getAPI(t, info, "/orgs/acme/actions/runners")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("faulted request: %d, Retry-After %q; want 429 with Retry-After 3", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	st, err := c.Stats(ctx)
	if err != nil || st.Registrations[githubtest.ViaAdded] != 2 || st.RegistrationsLive != 1 ||
		st.Removed[githubtest.RemovedByControl] != 1 || st.Requests != 1 || st.FaultAnswers[http.StatusTooManyRequests] != 1 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	sec, err := c.Secrets(ctx)
	if err != nil || sec.WebhookSecret != "s3cret" || len(sec.PrivateKeyPEM) == 0 || sec.Tokens == nil || sec.JITConfigs == nil {
		t.Errorf("Secrets = %v (webhook secret %q, key %d bytes)", err, sec.WebhookSecret, len(sec.PrivateKeyPEM))
	}
	for name, req := range map[string]FaultRequest{
		"probability": {Probability: 2}, "retry-after": {RetryAfter: "soon"},
	} {
		if err := c.InjectFault(ctx, req); err == nil {
			t.Errorf("bad fault (%s) accepted", name)
		}
	}
}

func TestServerWritesTheRecoveryCredentials(t *testing.T) {
	info, _ := startServer(t, "")
	var secret corev1.Secret
	mustUnmarshal(t, readYAMLDocs(t, info.RecoveryCredentialsManifest)[0], &secret)
	ca, err := os.ReadFile(info.CAFile)
	if err != nil || secret.Name != info.RecoverySecretName || string(secret.Data["ca.crt"]) != string(ca) ||
		len(secret.Data["app-id"]) == 0 || len(secret.Data["private-key"]) == 0 {
		t.Errorf("recovery Secret %s has keys %v (%v), want app-id, private-key and ca.crt", secret.Name, keys(secret.Data), err)
	}
}

// getAPI sends an unauthenticated GET to the fake's REST API, trusting its CA.
func getAPI(t *testing.T, info Info, path string) *http.Response {
	t.Helper()
	ca, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(info.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
