// Package githubtest is a fake GitHub: an in-memory implementation of the REST endpoints
// Corral uses (App installation tokens, just-in-time runner registration, runner listing and
// deletion, runner groups), faithful to GitHub's status codes, JSON bodies, pagination and
// rate-limit headers. Tests and the local demo drive a runner's life through it the way GitHub
// would see it: registered, online, busy, finished and removed.
//
// The fake serves the API both at the root (as api.github.com does) and under /api/v3 (as a
// GitHub Enterprise Server does), so a pool URL such as https://127.0.0.1:PORT/acme pointing
// at a TLS server started by NewServer is a GHES-style scope whose API the fake answers.
//
//	srv := githubtest.NewServer(githubtest.Options{})
//	defer srv.Close()
//	app := srv.AddApp(githubtest.AppOptions{})
//	// pool URL srv.URL()+"/acme", CA bundle srv.CACertPEM(), Secret data app.SecretData()
package githubtest

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Options configure a fake GitHub. The zero value gives GitHub's published defaults.
type Options struct {
	// TokenTTL is the lifetime of installation tokens; GitHub's is one hour.
	TokenTTL time.Duration
	// PrimaryLimit is the number of requests a credential may make per hour; GitHub grants
	// an App installation (and a personal access token) 5,000.
	PrimaryLimit int
	// SecondaryPoints is the number of points a credential may spend per minute on one
	// endpoint: a GET costs 1, a POST, PUT, PATCH or DELETE 5. GitHub's limit is 900.
	SecondaryPoints int
	// ContentCreatingPerMinute is the number of content-creating requests (POSTs) a
	// credential may make per minute. GitHub's limit is 80.
	ContentCreatingPerMinute int
	// RateLimitStatus is the status of a rate-limited answer: 403 (default) or 429, both of
	// which GitHub uses.
	RateLimitStatus int
	// Now is the fake's clock; time.Now when nil. Server.Advance moves it forward.
	Now func() time.Time
	// RunnersPerPage caps the page size of runner listings below GitHub's 100, so that a
	// test sees a pool's registrations spread over several pages.
	RunnersPerPage int
	// DeliveryLogDelay is how long after an attempt ended it appears in the App's delivery
	// log (list and fetch); 0: at once. GitHub logs an attempt once it ended, and does not
	// document how much later it can be read.
	DeliveryLogDelay time.Duration
}

func (o Options) withDefaults() Options {
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.PrimaryLimit <= 0 {
		o.PrimaryLimit = 5000
	}
	if o.SecondaryPoints <= 0 {
		o.SecondaryPoints = 900
	}
	if o.ContentCreatingPerMinute <= 0 {
		o.ContentCreatingPerMinute = 80
	}
	if o.RateLimitStatus != http.StatusTooManyRequests {
		o.RateLimitStatus = http.StatusForbidden
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Server is a fake GitHub. All methods are safe for concurrent use.
type Server struct {
	opts    Options
	handler http.Handler

	mu     sync.Mutex
	offset time.Duration // added to opts.Now by Advance
	ids    int64         // last ID handed out (apps, installations, runners, groups)
	key    *rsa.PrivateKey
	keyPEM []byte

	apps          map[int64]*app
	installations map[int64]*installation
	tokens        map[string]*issuedToken
	issued        []string // every token minted, revoked or not
	pats          map[string]*pat

	scopes map[Scope]*scopeState

	calls     map[string]int            // endpoint -> calls
	credCalls map[string]map[string]int // credential -> endpoint -> calls
	mints     map[int64]int             // installation ID -> tokens minted
	limited   map[string]int            // credential -> requests a rate limit refused

	primary   map[string]*primaryBucket
	secondary map[string]*secondaryWindow
	forced    map[string]forcedLimit
	faults    []*faultEntry
	onPage    func(sc Scope, page int) // called before a page of runners is read
	perPage   int                      // caps runner listings' page size; 0: Options.RunnersPerPage
	hooks     hookState                // App webhooks and their delivery log (deliveries.go)
	history   history                  // every registration and JIT configuration (history.go)
	answers   map[int]int              // status -> answers a fault gave

	hs     *httptest.Server
	closed chan struct{}
}

// New returns a fake GitHub that is not listening anywhere: serve Handler() yourself, or use
// NewServer or StartTLS.
func New(opts Options) *Server {
	s := &Server{
		opts:          opts.withDefaults(),
		ids:           1000,
		apps:          map[int64]*app{},
		installations: map[int64]*installation{},
		tokens:        map[string]*issuedToken{},
		pats:          map[string]*pat{},
		scopes:        map[Scope]*scopeState{},
		calls:         map[string]int{},
		credCalls:     map[string]map[string]int{},
		mints:         map[int64]int{},
		limited:       map[string]int{},
		primary:       map[string]*primaryBucket{},
		secondary:     map[string]*secondaryWindow{},
		forced:        map[string]forcedLimit{},
		answers:       map[int]int{},
		closed:        make(chan struct{}),
	}
	s.handler = s.routes()
	return s
}

// NewServer returns a fake GitHub listening with TLS on a random port of 127.0.0.1. Its
// certificate is valid for 127.0.0.1, ::1 and example.com; trust it with CACertPEM.
func NewServer(opts Options) *Server {
	s := New(opts)
	s.hs = httptest.NewUnstartedServer(s.handler)
	s.hs.Config.ErrorLog = quietLog()
	s.hs.StartTLS()
	return s
}

// StartTLS serves the fake with TLS on l (e.g. a fixed address for a demo), using the same
// self-signed certificate as NewServer, or, when l is bound to a routable address, one that
// is valid for that address too (trust it with CACertPEM either way). It must be called at
// most once, on a Server from New.
func (s *Server) StartTLS(l net.Listener) error {
	hs := httptest.NewUnstartedServer(s.handler)
	_ = hs.Listener.Close()
	hs.Listener = l
	hs.Config.ErrorLog = quietLog()
	cert, own, err := listenerCertificate(l.Addr())
	if err != nil {
		return err
	}
	if own {
		hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	hs.StartTLS()
	s.hs = hs
	return nil
}

// quietLog drops the server's own error lines (TLS handshakes cut short by clients that
// went away), which are noise in tests.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// Handler serves the fake's REST API.
func (s *Server) Handler() http.Handler { return s.handler }

// URL is the base URL of a started server, e.g. https://127.0.0.1:41234 (no trailing slash).
func (s *Server) URL() string {
	if s.hs == nil {
		return ""
	}
	return s.hs.URL
}

// OrgURL is a GHES-style pool URL for the organization org on this server.
func (s *Server) OrgURL(org string) string { return s.URL() + "/" + org }

// CACertPEM is the PEM certificate a client must trust to reach a started server.
func (s *Server) CACertPEM() []byte {
	if s.hs == nil || s.hs.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.hs.Certificate().Raw})
}

// Certificate is the certificate of a started TLS server.
func (s *Server) Certificate() *x509.Certificate {
	if s.hs == nil {
		return nil
	}
	return s.hs.Certificate()
}

// Close stops a started server and releases requests held by a Hang fault.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	if s.hs != nil {
		s.hs.Close()
	}
}

// Advance moves the fake's clock forward by d: tokens expire and rate-limit windows reset
// as if d had passed. Clients still see the real time.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// Now is the fake's current time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return s.opts.Now().Add(s.offset) }

func (s *Server) nextIDLocked() int64 {
	s.ids++
	return s.ids
}

// OnRunnersPage makes hook run before each page of a runner listing is read, with the
// listing's scope and page number (nil removes it). Tests use it to change the registry
// while a client pages through it, as ephemeral runners leaving GitHub do.
func (s *Server) OnRunnersPage(hook func(sc Scope, page int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPage = hook
}

// SetRunnersPerPage caps the page size of runner listings from now on (0 restores
// Options.RunnersPerPage).
func (s *Server) SetRunnersPerPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perPage = n
}
