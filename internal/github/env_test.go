package github

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/corral-run/corral/internal/github/githubtest"
)

var (
	keyOnce sync.Once
	keyPEM  []byte
	keyErr  error
)

// testKeyPEM is one RSA key for the test binary: generating keys is slow. Apps that must
// have distinct keys generate their own.
func testKeyPEM(t testing.TB) []byte {
	t.Helper()
	keyOnce.Do(func() { keyPEM, keyErr = githubtest.NewPrivateKeyPEM() })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return keyPEM
}

// env is a fake GitHub and a Factory whose clients trust it.
type env struct {
	srv     *githubtest.Server
	reg     *prometheus.Registry
	factory *Factory
	conn    ConnOptions
	logs    *logBuffer
	ctx     context.Context
}

func newEnv(t *testing.T, opts githubtest.Options, fopts FactoryOptions) *env {
	t.Helper()
	srv := githubtest.NewServer(opts)
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	fopts.Registerer = reg
	logs := &logBuffer{}
	return &env{
		srv: srv, reg: reg, factory: NewFactory(fopts), conn: ConnOptions{CABundle: srv.CACertPEM()},
		logs: logs, ctx: log.IntoContext(context.Background(), logs.logger()),
	}
}

func (e *env) addApp(t *testing.T, opts githubtest.AppOptions) githubtest.App {
	if opts.PrivateKeyPEM == nil {
		opts.PrivateKeyPEM = testKeyPEM(t)
	}
	return e.srv.AddApp(opts)
}

func appSource(key string, app githubtest.App) CredentialSource {
	return CredentialSource{Key: key, ResourceVersion: "1", Data: app.SecretData()}
}

// scope parses a GHES-style URL on the fake, e.g. "acme" or "acme/app".
func (e *env) scope(t *testing.T, path string) Scope {
	t.Helper()
	sc, err := ParseScope(e.srv.URL() + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func (e *env) client(t *testing.T, scope Scope, srcs ...CredentialSource) *Client {
	t.Helper()
	c, err := e.factory.Client(scope, srcs, e.conn)
	if err != nil {
		t.Fatalf("Factory.Client: %v", err)
	}
	return c
}

// orgClient is a client for org "acme" with one fresh App.
func (e *env) orgClient(t *testing.T) (*Client, githubtest.App) {
	app := e.addApp(t, githubtest.AppOptions{})
	return e.client(t, e.scope(t, "acme"), appSource("ns/app", app)), app
}

func jit(name string) JITRequest {
	return JITRequest{Name: name, RunnerGroupID: 1, Labels: []string{"linux"}}
}

// logBuffer collects every log line at every verbosity.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.buf.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recordingServer serves the fake's handler through a TLS server that records request
// paths, to check which API prefix a client used.
func recordingServer(t *testing.T, srv *githubtest.Server) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var paths []string
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...)
	}
}

func within(d, want, slack time.Duration) bool {
	return d >= want-slack && d <= want+slack
}

func containsAny(s string, needles ...string) string {
	for _, n := range needles {
		if n != "" && strings.Contains(s, n) {
			return n
		}
	}
	return ""
}

// caPEM is the PEM certificate of a TLS test server.
func caPEM(hs *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
}
