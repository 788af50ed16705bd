package github

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gogithub "github.com/google/go-github/v57/github"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// credential is one credential Secret made usable: an authenticated go-github client (for an
// App, over a ghinstallation transport that mints the installation token once and refreshes
// it before expiry, one refresh at a time) and the credential's rate-limit state. Every pool
// using the Secret shares it.
type credential struct {
	key             string // Secret "namespace/name"
	resourceVersion string
	kind            CredentialKind
	apiBase         *url.URL
	timeout         time.Duration
	instrumented    http.RoundTripper
	apps            *ghinstallation.AppsTransport // App credentials only
	installationID  int64
	token           string // token credentials only
	metrics         *metrics
	now             func() time.Time
	pacer           *pacer // content-creating requests (JIT registrations)

	mu         sync.Mutex
	gh         *gogithub.Client
	generation int // bumped when the installation token is thrown away
	limitedTil time.Time
	limitErr   *RateLimitError
}

func newCredential(src CredentialSource, creds Credentials, apiBase string, base http.RoundTripper, opts FactoryOptions, m *metrics) (*credential, error) {
	u, err := url.Parse(apiBase)
	if err != nil {
		return nil, err
	}
	c := &credential{
		key: src.Key, resourceVersion: src.ResourceVersion, kind: creds.kind, apiBase: u,
		timeout: opts.RequestTimeout, metrics: m, now: opts.Now, installationID: creds.installationID, token: creds.token,
		pacer: newPacer(opts.ContentCreatingPerMinute),
	}
	c.instrumented = &instrumentedTransport{base: base, credential: src.Key, metrics: m, maxBytes: opts.MaxResponseBytes, observe: c.observe}
	if creds.kind == CredentialApp {
		c.apps = ghinstallation.NewAppsTransportFromPrivateKey(c.instrumented, creds.appID, creds.privateKey)
		c.apps.BaseURL = strings.TrimSuffix(apiBase, "/")
	}
	c.gh = c.newGitHubClient()
	return c, nil
}

// newGitHubClient builds a go-github client; for an App, with a fresh installation token
// transport (so the next call mints a token).
func (c *credential) newGitHubClient() *gogithub.Client {
	var rt http.RoundTripper
	if c.apps != nil {
		itr := ghinstallation.NewFromAppsTransport(c.apps, c.installationID)
		itr.BaseURL = c.apps.BaseURL
		rt = itr
	} else {
		rt = &bearerTransport{base: c.instrumented, token: c.token}
	}
	gh := gogithub.NewClient(&http.Client{Transport: rt, Timeout: c.timeout})
	base := *c.apiBase
	gh.BaseURL = &base
	gh.UserAgent = "corral"
	return gh
}

// bearerTransport authenticates with a personal access token.
type bearerTransport struct {
	base  http.RoundTripper
	token string
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

func (c *credential) client() (*gogithub.Client, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gh, c.generation
}

// dropToken throws the installation token away, unless another caller already did since
// generation gen.
func (c *credential) dropToken(gen int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation == gen {
		c.generation++
		c.gh = c.newGitHubClient()
	}
}

// call runs fn with this credential's client and classifies its error. An installation
// token that GitHub refuses (revoked, or expired early) is thrown away and the call retried
// once with a new one.
func (c *credential) call(ctx context.Context, scope Scope, op operation, fn apiCall) error {
	if op == opJIT {
		if rl := c.paced(); rl != nil {
			return rl
		}
	}
	cl := classifier{scope: scope, credential: c.key, now: c.now}
	gh, gen := c.client()
	raw := fn(ctx, gh)
	err := cl.classify(raw, op)
	var (
		auth *AuthError
		mint *ghinstallation.HTTPError
	)
	if c.apps != nil && errors.As(err, &auth) && auth.StatusCode == http.StatusUnauthorized && !errors.As(raw, &mint) {
		log.FromContext(ctx).V(1).Info("github refused the installation token, minting a new one", "credential", c.key)
		c.dropToken(gen)
		gh, _ = c.client()
		err = cl.classify(fn(ctx, gh), op)
	}
	return err
}

// limited returns the rate limit still in force for this credential, or nil.
func (c *credential) limited() *RateLimitError {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.limitErr == nil || !now.Before(c.limitedTil) {
		return nil
	}
	e := *c.limitErr
	e.RetryAfter = c.limitedTil.Sub(now)
	return &e
}

// markLimited records that GitHub rate limited this credential until e.Reset.
func (c *credential) markLimited(ctx context.Context, e *RateLimitError) {
	kind, logger := "primary", log.FromContext(ctx)
	switch {
	case e.Paced: // our own pacer, GitHub not asked: routine in a burst, no news
		kind, logger = "paced", logger.V(1)
	case e.Secondary:
		kind = "secondary"
	}
	c.metrics.limited.WithLabelValues(c.key, kind).Inc()
	logger.Info("github credential rate limited", "credential", c.key, "kind", kind, "reset", e.Reset)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Reset.After(c.limitedTil) {
		c.limitedTil = e.Reset
		c.limitErr = e
	}
}

// observe notes an answer that spent the last request of the primary window: go-github
// will refuse further calls until the reset, and the rotation skips this credential.
func (c *credential) observe(h http.Header) {
	if h.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	at := rateLimitReset(h)
	if at.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.limitedTil) {
		c.limitedTil = at
		c.limitErr = &RateLimitError{Reset: at, Credential: c.key, Message: "primary rate limit spent"}
	}
}
