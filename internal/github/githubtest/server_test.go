package githubtest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"

	"github.com/corral-run/corral/internal/github/githubtest"
)

var (
	keyOnce sync.Once
	keyPEM  []byte
)

// sharedKey is one RSA key for the whole test binary: generating keys is slow.
func sharedKey(t testing.TB) []byte {
	keyOnce.Do(func() {
		var err error
		if keyPEM, err = githubtest.NewPrivateKeyPEM(); err != nil {
			t.Fatal(err)
		}
	})
	return keyPEM
}

func newServer(t *testing.T, opts githubtest.Options) *githubtest.Server {
	t.Helper()
	srv := githubtest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// call sends a raw request to the fake, as any HTTP client would.
func call(t *testing.T, srv *githubtest.Server, method, path, auth string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, srv)}, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	a.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(a.raw, &a.body)
	return a
}

func signJWT(t *testing.T, key []byte, claims jwt.MapClaims, method jwt.SigningMethod) string {
	t.Helper()
	var signKey any = jwt.UnsafeAllowNoneSignatureType
	if method == jwt.SigningMethodRS256 {
		k, err := jwt.ParseRSAPrivateKeyFromPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		signKey = k
	} else if method == jwt.SigningMethodHS256 {
		signKey = key
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(signKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mint(t *testing.T, srv *githubtest.Server, app githubtest.App) string {
	t.Helper()
	now := time.Now()
	tok := signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": strconv.FormatInt(app.ID, 10), "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix()}, jwt.SigningMethodRS256)
	a := call(t, srv, http.MethodPost, "/app/installations/"+strconv.FormatInt(app.InstallationID, 10)+"/access_tokens", "Bearer "+tok, nil)
	if a.status != http.StatusCreated {
		t.Fatalf("minting token: %d %s", a.status, a.raw)
	}
	return "token " + a.body["token"].(string)
}

func TestJWTVerification(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	otherKey, err := githubtest.NewPrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	iss := strconv.FormatInt(app.ID, 10)
	path := "/app/installations/" + strconv.FormatInt(app.InstallationID, 10) + "/access_tokens"
	cases := []struct {
		name   string
		jwt    string
		status int
		msg    string
	}{
		{"valid, iss as string", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": iss, "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix()}, jwt.SigningMethodRS256), 201, ""},
		{"valid, iss as number", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": app.ID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodRS256), 201, ""},
		{"iat within clock drift", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": iss, "iat": now.Add(30 * time.Second).Unix(), "exp": now.Add(5 * time.Minute).Unix()}, jwt.SigningMethodRS256), 201, ""},
		{"wrong private key", signJWT(t, otherKey, jwt.MapClaims{"iss": iss, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodRS256), 401, "could not be decoded"},
		{"unknown app", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": "999999", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodRS256), 401, "could not be decoded"},
		{"no iss", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodRS256), 401, "could not be decoded"},
		{"HS256 with the public key material", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": iss, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodHS256), 401, "could not be decoded"},
		{"alg none", signJWT(t, nil, jwt.MapClaims{"iss": iss, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodNone), 401, "could not be decoded"},
		{"expired", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": iss, "iat": now.Add(-10 * time.Minute).Unix(), "exp": now.Add(-time.Second).Unix()}, jwt.SigningMethodRS256), 401, "'Expiration time' claim ('exp') must be"},
		{"exp more than 10 minutes ahead", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": iss, "iat": now.Unix(), "exp": now.Add(12 * time.Minute).Unix()}, jwt.SigningMethodRS256), 401, "too far in the future"},
		{"iat in the future", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": iss, "iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(8 * time.Minute).Unix()}, jwt.SigningMethodRS256), 401, "'Issued at' claim"},
		{"no iat", signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": iss, "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodRS256), 401, "'Issued at' claim"},
		{"garbage", "a.b.c", 401, "could not be decoded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, srv, http.MethodPost, path, "Bearer "+tc.jwt, nil)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.raw)
			}
			if tc.msg != "" && !strings.Contains(a.body["message"].(string), tc.msg) {
				t.Errorf("message %q does not contain %q", a.body["message"], tc.msg)
			}
		})
	}
}

func TestInstallationTokens(t *testing.T) {
	srv := newServer(t, githubtest.Options{TokenTTL: 10 * time.Minute})
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	other := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	now := time.Now()
	otherJWT := signJWT(t, other.PrivateKeyPEM, jwt.MapClaims{"iss": other.ID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodRS256)
	if a := call(t, srv, http.MethodPost, "/app/installations/"+strconv.FormatInt(app.InstallationID, 10)+"/access_tokens", "Bearer "+otherJWT, nil); a.status != 404 {
		t.Errorf("another App's installation: status %d, want 404", a.status)
	}
	if a := call(t, srv, http.MethodPost, "/api/v3/app/installations/424242/access_tokens", "Bearer "+otherJWT, nil); a.status != 404 {
		t.Errorf("unknown installation: status %d, want 404", a.status)
	}
	token := mint(t, srv, app)
	if got := srv.TokenMints(app.InstallationID); got != 1 {
		t.Errorf("TokenMints = %d, want 1", got)
	}
	if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", token, nil); a.status != 200 {
		t.Fatalf("list with fresh token: %d %s", a.status, a.raw)
	}
	if a := call(t, srv, http.MethodPost, "/app/installations/1/access_tokens", token, nil); a.status != 401 {
		t.Errorf("minting with an installation token: status %d, want 401", a.status)
	}
	srv.Advance(11 * time.Minute)
	a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", token, nil)
	if a.status != 401 || a.body["message"] != "Bad credentials" {
		t.Errorf("expired token: %d %s, want 401 Bad credentials", a.status, a.raw)
	}
	if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", "", nil); a.status != 401 || a.header.Get("X-RateLimit-Limit") != "60" {
		t.Errorf("anonymous: %d limit %q, want 401 with the anonymous rate-limit headers", a.status, a.header.Get("X-RateLimit-Limit"))
	}
}

func TestTokenResponseShape(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	now := time.Now()
	tok := signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{"iss": app.ID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, jwt.SigningMethodRS256)
	a := call(t, srv, http.MethodPost, "/app/installations/"+strconv.FormatInt(app.InstallationID, 10)+"/access_tokens", "Bearer "+tok, nil)
	exp, err := time.Parse(time.RFC3339, a.body["expires_at"].(string))
	if err != nil {
		t.Fatalf("expires_at: %v", err)
	}
	if d := time.Until(exp); d < 59*time.Minute || d > time.Hour {
		t.Errorf("token expires in %s, want about 1h", d)
	}
	if !strings.HasPrefix(a.body["token"].(string), "ghs_") {
		t.Errorf("token %q lacks the ghs_ prefix", a.body["token"])
	}
	perms := a.body["permissions"].(map[string]any)
	if perms[githubtest.PermissionOrgRunners] != "write" {
		t.Errorf("permissions = %v", perms)
	}
}

func TestServesRootAndGHESPaths(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	p := srv.AddPAT(githubtest.PATOptions{})
	for _, path := range []string{"/orgs/acme/actions/runners", "/api/v3/orgs/acme/actions/runners"} {
		if a := call(t, srv, http.MethodGet, path, "Bearer "+p.Token, nil); a.status != 200 || a.body["total_count"] != float64(0) {
			t.Errorf("GET %s: %d %s", path, a.status, a.raw)
		}
	}
	if got := srv.CallCount(githubtest.EndpointOrgRunners); got != 2 {
		t.Errorf("CallCount = %d, want 2 (both prefixes count as one endpoint)", got)
	}
	if got := srv.CallCountFor(p.Credential, githubtest.EndpointOrgRunners); got != 2 {
		t.Errorf("CallCountFor = %d, want 2", got)
	}
	a := call(t, srv, http.MethodGet, "/api/v3/nope", "Bearer "+p.Token, nil)
	if a.status != 404 || a.body["message"] != "Not Found" {
		t.Errorf("unknown path: %d %s", a.status, a.raw)
	}
}

func TestStartTLSOnListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := githubtest.New(githubtest.Options{})
	if err := srv.StartTLS(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if !strings.HasSuffix(srv.URL(), l.Addr().String()) {
		t.Fatalf("URL %s does not use listener %s", srv.URL(), l.Addr())
	}
	p := srv.AddPAT(githubtest.PATOptions{})
	if a := call(t, srv, http.MethodGet, "/repos/acme/app/actions/runners", "token "+p.Token, nil); a.status != 200 {
		t.Errorf("status %d", a.status)
	}
	if srv.OrgURL("acme") != srv.URL()+"/acme" {
		t.Errorf("OrgURL = %s", srv.OrgURL("acme"))
	}
}

// A fake listening on a routable address (a node's pod gateway) is reached there by clients
// that trust CACertPEM and check the host name, as corral does.
func TestStartTLSOnRoutableAddress(t *testing.T) {
	ip := routableIPv4(t)
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := githubtest.New(githubtest.Options{})
	if err := srv.StartTLS(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CACertPEM()) {
		t.Fatal("CACertPEM holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	port := l.Addr().(*net.TCPAddr).Port
	url := "https://" + net.JoinHostPort(ip.String(), strconv.Itoa(port)) + "/meta"
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s with the fake's CA: %v", url, err)
	}
	_ = resp.Body.Close()
	if srv.URL() != "https://"+l.Addr().String() {
		t.Errorf("URL = %s, want https://%s", srv.URL(), l.Addr())
	}
}

// routableIPv4 is an IPv4 address of this machine other than loopback (skips without one).
func routableIPv4(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP
		}
	}
	t.Skip("no IPv4 address besides loopback")
	return nil
}
