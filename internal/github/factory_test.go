package github

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestFactoryCachesPerSecretVersion(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	src := appSource("ns/app", app)
	acme, other := e.scope(t, "acme"), e.scope(t, "other")
	c1 := e.client(t, acme, src)
	if e.client(t, acme, src) != c1 {
		t.Error("same arguments gave a new Client")
	}
	// Two pools on two organizations share the Secret: one token for both.
	c2 := e.client(t, other, src)
	for _, c := range []*Client{c1, c2} {
		if _, err := c.ListRunners(e.ctx, "p-"); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.TokenMints(app.InstallationID); got != 1 {
		t.Errorf("two pools sharing a Secret minted %d tokens, want 1", got)
	}
	// A new resourceVersion: parsed again, new token, old clients dropped.
	src.ResourceVersion = "2"
	c3 := e.client(t, acme, src)
	if c3 == c1 {
		t.Fatal("changed Secret gave the cached Client")
	}
	if _, err := c3.ListRunners(e.ctx, "p-"); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.TokenMints(app.InstallationID); got != 2 {
		t.Errorf("mints after the Secret changed = %d, want 2", got)
	}
	e.factory.mu.Lock()
	defer e.factory.mu.Unlock()
	for _, c := range e.factory.creds {
		if c.resourceVersion != "2" {
			t.Errorf("credential of resourceVersion %s still cached", c.resourceVersion)
		}
	}
	for _, cl := range e.factory.clients {
		if cl == c1 || cl == c2 {
			t.Error("client of the old Secret still cached")
		}
	}
}

func TestFactoryRejectsBadInput(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	acme := e.scope(t, "acme")
	cases := []struct {
		name  string
		scope Scope
		srcs  []CredentialSource
		conn  ConnOptions
		is    error
		msg   string
	}{
		{"no credentials", acme, nil, e.conn, ErrInvalidCredentials, "no credential"},
		{"bad Secret", acme, []CredentialSource{{Key: "ns/bad", Data: map[string][]byte{KeyAppID: []byte("x")}}}, e.conn, ErrInvalidCredentials, "credential Secret ns/bad"},
		{"zero scope", Scope{}, []CredentialSource{appSource("ns/app", app)}, e.conn, ErrInvalidConfig, "ParseScope"},
		{"CA bundle without certificates", acme, []CredentialSource{appSource("ns/app", app)}, ConnOptions{CABundle: []byte("nope")}, ErrInvalidConfig, "no PEM certificate"},
		{"proxy scheme", acme, []CredentialSource{appSource("ns/app", app)}, ConnOptions{ProxyURL: &url.URL{Scheme: "socks5", Host: "p:1"}}, ErrInvalidConfig, "proxy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.factory.Client(tc.scope, tc.srcs, tc.conn)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %v mentioning %q", err, tc.is, tc.msg)
			}
		})
	}
	custom := NewFactory(FactoryOptions{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("x") })})
	if _, err := custom.Client(acme, []CredentialSource{appSource("ns/app", app)}, e.conn); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("CA bundle over a non-*http.Transport: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUntrustedServerIsAConfigError(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	app := e.addApp(t, githubtest.AppOptions{})
	e.conn = ConnOptions{} // system roots only: the fake's certificate is not trusted
	c := e.client(t, e.scope(t, "acme"), appSource("ns/app", app))
	_, err := c.ListRunners(e.ctx, "p-")
	if !errors.Is(err, ErrInvalidConfig) || IsRetryable(err) {
		t.Errorf("untrusted certificate: %v, want ErrInvalidConfig", err)
	}
}

func TestHTTPSProxy(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	var mu sync.Mutex
	var tunnels []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		tunnels = append(tunnels, r.Host)
		mu.Unlock()
		upstream, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		go func() { _, _ = io.Copy(upstream, buf); upstream.Close() }()
		_, _ = io.Copy(conn, upstream)
		conn.Close()
	}))
	t.Cleanup(proxy.Close)
	proxyURL, _ := url.Parse(proxy.URL)
	e.conn.ProxyURL = proxyURL
	app := e.addApp(t, githubtest.AppOptions{})
	c := e.client(t, e.scope(t, "acme"), appSource("ns/app", app))
	if _, err := c.GenerateJITConfig(e.ctx, jit("via-proxy")); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	host := strings.TrimPrefix(e.srv.URL(), "https://")
	if len(tunnels) == 0 || tunnels[0] != host {
		t.Errorf("proxy tunnels = %v, want CONNECT %s", tunnels, host)
	}
}
