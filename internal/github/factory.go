package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CredentialSource is a credentials Secret as the controller read it.
type CredentialSource struct {
	// Key identifies the Secret, "namespace/name"; it labels metrics and logs.
	Key string
	// ResourceVersion of the Secret: a change invalidates the cached client.
	ResourceVersion string
	// Data is the Secret's data.
	Data map[string][]byte
}

// FactoryOptions configure a Factory. The zero value is usable.
type FactoryOptions struct {
	// Registerer receives the metrics; nil registers them nowhere.
	Registerer prometheus.Registerer
	// Transport is the base transport; nil means a clone of http.DefaultTransport. CA
	// bundles and proxies are applied to a clone of it, so it must then be an *http.Transport.
	Transport http.RoundTripper
	// MaxResponseBytes caps each answer's body; DefaultMaxResponseBytes when 0.
	MaxResponseBytes int64
	// RequestTimeout bounds each HTTP request, token minting included; 30 s when 0.
	RequestTimeout time.Duration
	// GroupCacheTTL is how long a resolved runner group ID is reused; 10 min when 0.
	GroupCacheTTL time.Duration
	// IdleTTL drops cached clients and credentials not asked for during this long; 1 h when 0.
	IdleTTL time.Duration
	// ContentCreatingPerMinute caps each credential's JIT registrations in any minute, so
	// Corral waits its turn under GitHub's secondary limit instead of hitting it;
	// DefaultContentCreatingPerMinute (80, GitHub's limit) when 0.
	ContentCreatingPerMinute int
	// PacedWait is the longest a JIT registration waits in the call for its credential's
	// next free slot under the pacer, in all; a slot further away is the paced
	// *RateLimitError at once. It lets a reconcile creating a burst take the slots as they
	// free instead of needing a reconcile per slot. DefaultPacedWait when 0; negative: never.
	PacedWait time.Duration
	// Now is the clock for rate-limit bookkeeping; time.Now when nil.
	Now func() time.Time
	// Sleep waits d, or less if ctx ends first (then returns its error); a timer when nil.
	// Tests replace it with Now's clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultPacedWait is FactoryOptions.PacedWait's default.
const DefaultPacedWait = time.Second

func (o FactoryOptions) withDefaults() FactoryOptions {
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.GroupCacheTTL <= 0 {
		o.GroupCacheTTL = 10 * time.Minute
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = time.Hour
	}
	if o.PacedWait == 0 {
		o.PacedWait = DefaultPacedWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Factory hands out Clients. It caches one authenticated client per credential Secret (and
// API host and connection settings), so that every pool using a Secret shares its
// installation token and rate-limit state; a Secret whose resourceVersion changed is
// parsed again and its old client dropped. Safe for concurrent use.
type Factory struct {
	opts    FactoryOptions
	metrics *metrics

	mu         sync.Mutex
	creds      map[string]*credential
	clients    map[string]*Client
	transports map[string]http.RoundTripper
	lastSweep  time.Time
}

// NewFactory returns a Factory.
func NewFactory(opts FactoryOptions) *Factory {
	opts = opts.withDefaults()
	return &Factory{
		opts:       opts,
		metrics:    newMetrics(opts.Registerer),
		creds:      map[string]*credential{},
		clients:    map[string]*Client{},
		transports: map[string]http.RoundTripper{},
	}
}

// Client returns the Client for scope using creds (the first is the pool's main credential,
// the others additional ones) over conn. Calls with the same arguments and unchanged
// Secrets return the same Client. Errors wrap ErrInvalidCredentials or ErrInvalidConfig.
func (f *Factory) Client(scope Scope, creds []CredentialSource, conn ConnOptions) (*Client, error) {
	if scope.Kind == "" || scope.APIBase == "" {
		return nil, fmt.Errorf("%w: scope has no kind or API base; build it with ParseScope", ErrInvalidConfig)
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("%w: no credential Secret given", ErrInvalidCredentials)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	f.sweepLocked(now)
	connKey := conn.key()
	keys := make([]string, len(creds))
	for i, src := range creds {
		keys[i] = credKey(src, scope.APIBase, connKey)
	}
	clientKey := scope.key() + "#" + connKey + "#" + strings.Join(keys, "#")
	if c, ok := f.clients[clientKey]; ok {
		c.lastUsed = now
		return c, nil
	}
	base, err := f.transportLocked(conn, connKey)
	if err != nil {
		return nil, err
	}
	entries := make([]*credential, len(creds))
	for i, src := range creds {
		if entries[i], err = f.credentialLocked(src, keys[i], scope, base); err != nil {
			return nil, err
		}
	}
	c := newClient(scope, entries, f.opts)
	c.lastUsed = now
	f.clients[clientKey] = c
	return c, nil
}

func credKey(src CredentialSource, apiBase, connKey string) string {
	return src.Key + "|" + src.ResourceVersion + "|" + apiBase + "|" + connKey
}

func (f *Factory) transportLocked(conn ConnOptions, connKey string) (http.RoundTripper, error) {
	if t, ok := f.transports[connKey]; ok {
		return t, nil
	}
	t, err := newBaseTransport(f.opts.Transport, conn)
	if err != nil {
		return nil, err
	}
	f.transports[connKey] = t
	return t, nil
}

// credentialLocked returns the cached credential for src, parsing the Secret on a miss and
// dropping what was cached for an older resourceVersion of it.
func (f *Factory) credentialLocked(src CredentialSource, key string, scope Scope, base http.RoundTripper) (*credential, error) {
	if c, ok := f.creds[key]; ok {
		return c, nil
	}
	parsed, err := ParseCredentials(src.Data)
	if err != nil {
		return nil, fmt.Errorf("credential Secret %s: %w", src.Key, err)
	}
	if scope.Kind == ScopeEnterprise && parsed.Kind() == CredentialApp {
		return nil, fmt.Errorf("credential Secret %s: %w: GitHub does not let App installations manage enterprise runners; "+
			"use a personal access token (classic) with the manage_runners:enterprise scope", src.Key, ErrInvalidCredentials)
	}
	c, err := newCredential(src, parsed, scope.APIBase, base, f.opts, f.metrics)
	if err != nil {
		return nil, fmt.Errorf("credential Secret %s: %w", src.Key, errors.Join(ErrInvalidConfig, err))
	}
	f.dropStaleLocked(src)
	f.creds[key] = c
	return c, nil
}

// dropStaleLocked forgets clients and credentials built from other resourceVersions of src.
func (f *Factory) dropStaleLocked(src CredentialSource) {
	for k, c := range f.creds {
		if c.key == src.Key && c.resourceVersion != src.ResourceVersion {
			delete(f.creds, k)
		}
	}
	for k, cl := range f.clients {
		for _, c := range cl.creds {
			if c.key == src.Key && c.resourceVersion != src.ResourceVersion {
				delete(f.clients, k)
				break
			}
		}
	}
}

// sweepLocked drops clients idle for IdleTTL and the credentials no client uses any more,
// at most once a minute.
func (f *Factory) sweepLocked(now time.Time) {
	if now.Sub(f.lastSweep) < time.Minute {
		return
	}
	f.lastSweep = now
	used := map[*credential]bool{}
	for k, cl := range f.clients {
		if now.Sub(cl.lastUsed) > f.opts.IdleTTL {
			delete(f.clients, k)
			continue
		}
		for _, c := range cl.creds {
			used[c] = true
		}
	}
	for k, c := range f.creds {
		if !used[c] {
			delete(f.creds, k)
		}
	}
}
