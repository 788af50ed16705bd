package github

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func (e *env) appClient(t *testing.T, app githubtest.App) *AppClient {
	t.Helper()
	c, err := NewAppClient(appSource("ops/recovery", app), e.srv.URL(), AppClientOptions{Registerer: e.reg, Conn: e.conn})
	if err != nil {
		t.Fatalf("NewAppClient: %v", err)
	}
	return c
}

func TestAppClientListsDeliveriesAcrossPages(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	other := e.addApp(t, githubtest.AppOptions{})
	start := e.srv.Now().Add(-5 * time.Hour).Truncate(time.Second)
	for i := range 250 {
		e.srv.RecordDelivery(app.ID, githubtest.Delivery{
			Event: "workflow_job", StatusCode: 200, DeliveredAt: start.Add(time.Duration(i) * time.Minute),
			Payload: []byte(`{"action":"queued","installation":{"id":7}}`),
		})
	}
	e.srv.RecordDelivery(other.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 500})
	c := e.appClient(t, app)

	all, complete, err := c.ListHookDeliveries(e.ctx, time.Time{}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 || !complete {
		t.Fatalf("listed %d deliveries (complete %v), want all 250 of this App", len(all), complete)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("deliveries not newest first at %d: %d after %d", i, all[i].ID, all[i-1].ID)
		}
	}
	if d := all[0]; d.Event != "workflow_job" || d.Action != "queued" || d.InstallationID != 7 || !d.Succeeded() || d.GUID == "" {
		t.Errorf("newest delivery = %+v", d)
	}
	if n := e.srv.CallCount(githubtest.EndpointAppHookDeliveries); n != 3 {
		t.Errorf("250 deliveries took %d list calls, want 3 pages of 100", n)
	}

	// Stop at the first delivery older than since: the newest 30 minutes fit in one page.
	e.srv.ResetCounts()
	recent, complete, err := c.ListHookDeliveries(e.ctx, start.Add(220*time.Minute), 0, 0)
	if err != nil || !complete {
		t.Fatalf("list since: %v (complete %v)", err, complete)
	}
	if len(recent) != 30 || e.srv.CallCount(githubtest.EndpointAppHookDeliveries) != 1 {
		t.Errorf("since cut-off listed %d deliveries in %d calls, want 30 in 1", len(recent), e.srv.CallCount(githubtest.EndpointAppHookDeliveries))
	}

	// A page budget bounds the cost and says so.
	partial, complete, err := c.ListHookDeliveries(e.ctx, time.Time{}, 0, 1)
	if err != nil || complete || len(partial) != 100 {
		t.Errorf("one page: %d deliveries, complete %v, err %v; want 100, false, nil", len(partial), complete, err)
	}
	// An ID cut-off (a pull's persisted progress) stops at the first attempt it has seen.
	e.srv.ResetCounts()
	after, complete, err := c.ListHookDeliveries(e.ctx, time.Time{}, all[40].ID, 0)
	if err != nil || !complete || len(after) != 40 || after[39].ID != all[39].ID {
		t.Errorf("after ID %d: %d deliveries, complete %v, err %v; want the newest 40", all[40].ID, len(after), complete, err)
	}
	// Every answer reports the App's own budget, which its JWT's requests spend.
	if rl := c.RateLimit(); rl.Limit != 5000 || rl.Used != 6 || rl.Remaining != rl.Limit-rl.Used || rl.Reset.IsZero() {
		t.Errorf("App rate limit after 6 list calls = %+v, want 5000 with them spent", rl)
	}
	if v := testutil.ToFloat64(e.factory.metrics.requests.WithLabelValues("/app/hook/deliveries", "GET", "200")); v < 5 {
		t.Errorf("request metric for /app/hook/deliveries = %v, want the calls counted", v)
	}
}

// receiver is a webhook endpoint that records what it gets and answers status.
type receiver struct {
	mu     sync.Mutex
	status int
	got    []*http.Request
	bodies []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, string(b))
	w.WriteHeader(rc.status)
}

func TestAppClientGetsAndRedeliversDeliveries(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	rc := &receiver{status: http.StatusServiceUnavailable}
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	e.srv.SetAppWebhook(app.ID, githubtest.AppWebhook{URL: hs.URL, Secret: "s3cret"})
	payload := `{"action":"queued","workflow_job":{"id":42,"labels":["linux"]}}`
	failed := e.srv.DeliverAppEvent(e.ctx, app.ID, "workflow_job", []byte(payload))
	if failed.StatusCode != http.StatusServiceUnavailable || failed.Succeeded() {
		t.Fatalf("first attempt = %d, want the receiver's 503", failed.StatusCode)
	}
	c := e.appClient(t, app)

	d, err := c.GetHookDelivery(e.ctx, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	_ = json.Unmarshal(d.Payload, &got)
	_ = json.Unmarshal([]byte(payload), &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("payload = %s, want %s", d.Payload, payload)
	}
	if d.GUID != failed.GUID || d.Headers["X-GitHub-Event"] != "workflow_job" || d.StatusCode != 503 || d.Action != "queued" {
		t.Errorf("detail = %+v headers %v", d.HookDelivery, d.Headers)
	}

	rc.mu.Lock()
	rc.status = http.StatusAccepted
	rc.mu.Unlock()
	if err := c.RedeliverHookDelivery(e.ctx, failed.ID); err != nil {
		t.Fatalf("redeliver: %v", err)
	}
	log := e.srv.Deliveries(app.ID)
	if len(log) != 2 || !log[1].Redelivery || log[1].GUID != failed.GUID || !log[1].Succeeded() {
		t.Fatalf("log after redelivery = %+v", log)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 2 || rc.got[1].Header.Get("X-GitHub-Delivery") != failed.GUID || rc.bodies[1] != payload {
		t.Errorf("receiver got %d requests; second GUID %q", len(rc.got), rc.got[len(rc.got)-1].Header.Get("X-GitHub-Delivery"))
	}
	if sig := rc.got[1].Header.Get("X-Hub-Signature-256"); sig != githubtest.SignPayload("s3cret", []byte(payload)) {
		t.Errorf("redelivery signature = %q", sig)
	}

	if _, err := c.GetHookDelivery(e.ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown delivery: %v, want ErrNotFound", err)
	}
}

func TestAppClientAuthentication(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	otherKey, err := githubtest.NewPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	forged := app
	forged.PrivateKeyPEM = otherKey
	_, _, err = e.appClient(t, forged).ListHookDeliveries(e.ctx, time.Time{}, 0, 1)
	var auth *AuthError
	if !errors.As(err, &auth) || auth.StatusCode != http.StatusUnauthorized || auth.Permission != "" {
		t.Fatalf("JWT signed by another key: %v, want a 401 AuthError", err)
	}
	if leak := containsAny(err.Error()+e.logs.String(), string(otherKey)[40:80]); leak != "" {
		t.Errorf("key material leaked: %q", leak)
	}

	// The endpoints refuse installation tokens, as GitHub does.
	if _, err := e.client(t, e.scope(t, "acme"), appSource("ns/app", app)).ListRunners(e.ctx, "p-"); err != nil {
		t.Fatal(err)
	}
	tokens := e.srv.IssuedTokens()
	if len(tokens) == 0 {
		t.Fatal("no installation token minted")
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL()+"/app/hook/deliveries", nil)
	req.Header.Set("Authorization", "token "+tokens[0])
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(e.srv.CACertPEM())
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("installation token on /app/hook/deliveries: %d, want 401", resp.StatusCode)
	}
}

func TestNewAppClientRejectsBadInput(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	pat := e.srv.AddPAT(githubtest.PATOptions{})
	cases := []struct {
		name string
		data map[string][]byte
		url  string
		is   error
	}{
		{"token instead of App", pat.SecretData(), e.srv.URL(), ErrInvalidCredentials},
		{"bad key", map[string][]byte{KeyAppID: []byte("1"), KeyPrivateKey: []byte("-----BEGIN RSA PRIVATE KEY-----\nnope")}, e.srv.URL(), ErrInvalidCredentials},
		{"bad app id", map[string][]byte{KeyAppID: []byte("x"), KeyPrivateKey: app.PrivateKeyPEM}, e.srv.URL(), ErrInvalidCredentials},
		{"http URL", app.SecretData(), "http://github.com", ErrInvalidConfig},
		{"URL with path", app.SecretData(), "https://github.com/acme", ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAppClient(CredentialSource{Key: "ops/x", Data: tc.data}, tc.url, AppClientOptions{})
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if strings.Contains(err.Error(), pat.Token) || strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}
