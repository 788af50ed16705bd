package github

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	jwt "github.com/golang-jwt/jwt/v4"
	gogithub "github.com/google/go-github/v57/github"
	"github.com/prometheus/client_golang/prometheus"
)

// HookDelivery is one attempt GitHub made to deliver an App webhook event, as the App's
// delivery log lists it.
type HookDelivery struct {
	// ID identifies the attempt (GetHookDelivery, RedeliverHookDelivery).
	ID int64
	// GUID is the X-GitHub-Delivery header, the same for every attempt of one event.
	GUID string
	// DeliveredAt is when GitHub made the attempt.
	DeliveredAt time.Time
	// Redelivery is true for attempts after the first.
	Redelivery bool
	// StatusCode is the receiver's HTTP status; 0 when GitHub could not connect.
	StatusCode int
	// Status is GitHub's description, e.g. "OK" or "Invalid HTTP Response: 503".
	Status string
	// Event is the event name, e.g. workflow_job.
	Event string
	// Action is the payload's action, e.g. queued.
	Action string
	// InstallationID is the installation the event came from.
	InstallationID int64
}

// Succeeded reports whether the receiver answered the attempt with a 2xx status.
func (d HookDelivery) Succeeded() bool { return d.StatusCode >= 200 && d.StatusCode < 300 }

// HookDeliveryDetail is an attempt with the request GitHub sent.
type HookDeliveryDetail struct {
	HookDelivery
	// Headers are the request headers (X-GitHub-Event, X-GitHub-Delivery, ...).
	Headers map[string]string
	// Payload is the event's JSON payload, whatever content type the webhook used.
	Payload json.RawMessage
}

// AppClientOptions configure an AppClient. The zero value is usable.
type AppClientOptions struct {
	// Registerer receives the GitHub request metrics; nil registers them nowhere. Sharing
	// a registry with a Factory shares its collectors.
	Registerer prometheus.Registerer
	// Transport is the base transport; nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Conn adds a CA bundle or proxy.
	Conn ConnOptions
	// MaxResponseBytes caps each answer's body; DefaultMaxResponseBytes when 0.
	MaxResponseBytes int64
	// RequestTimeout bounds each HTTP request; 30 s when 0.
	RequestTimeout time.Duration
	// Now is the clock for rate-limit errors; time.Now when nil.
	Now func() time.Time
}

// AppClient calls the endpoints a GitHub App reaches as itself, authenticated with a JWT
// signed by its private key rather than an installation token: the App's webhook delivery
// log. Safe for concurrent use.
type AppClient struct {
	key string
	gh  *gogithub.Client
	cl  classifier

	mu   sync.Mutex
	rate AppRateLimit
}

// AppRateLimit is the App's own hourly budget (its JWT's: the delivery log and token mints
// count against it, not against an installation's) as GitHub's last answer reported it in
// its x-ratelimit-* headers.
type AppRateLimit struct {
	// Limit, Remaining and Used are the requests per window, left and spent; Limit 0: no
	// answer reported them yet (e.g. a GitHub Enterprise Server with rate limits off).
	Limit, Remaining, Used int
	// Reset is when the window ends.
	Reset time.Time
}

// NewAppClient returns a client for the App whose Secret is src (keys app-id and
// private-key; installation-id is ignored) on the GitHub at githubURL: https://github.com,
// a GHE.com host or a GitHub Enterprise Server's https://HOST. Errors wrap
// ErrInvalidCredentials or ErrInvalidConfig and never show key material.
func NewAppClient(src CredentialSource, githubURL string, opts AppClientOptions) (*AppClient, error) {
	u, err := url.Parse(strings.TrimSpace(githubURL))
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("%w: GitHub URL %q must be https://HOST, e.g. https://github.com", ErrInvalidConfig, githubURL)
	}
	appID, key, err := parseAppKey(src.Data)
	if err != nil {
		return nil, fmt.Errorf("credential Secret %s: %w", src.Key, err)
	}
	fopts := FactoryOptions{MaxResponseBytes: opts.MaxResponseBytes, RequestTimeout: opts.RequestTimeout, Now: opts.Now}.withDefaults()
	base, err := newBaseTransport(opts.Transport, opts.Conn)
	if err != nil {
		return nil, err
	}
	api := apiBase(strings.ToLower(u.Host))
	c := &AppClient{key: src.Key, cl: classifier{credential: src.Key, now: fopts.Now}}
	instrumented := &instrumentedTransport{base: base, credential: src.Key, metrics: newMetrics(opts.Registerer), maxBytes: fopts.MaxResponseBytes,
		observe: c.observe}
	apps := ghinstallation.NewAppsTransportFromPrivateKey(instrumented, appID, key)
	apps.BaseURL = strings.TrimSuffix(api, "/")
	gh := gogithub.NewClient(&http.Client{Transport: apps, Timeout: fopts.RequestTimeout})
	if gh.BaseURL, err = url.Parse(api); err != nil {
		return nil, fmt.Errorf("%w: API base %q: %v", ErrInvalidConfig, api, err)
	}
	gh.UserAgent = "corral"
	c.gh = gh
	return c, nil
}

// observe records the rate-limit headers of an answer.
func (c *AppClient) observe(h http.Header) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if err1 != nil || err2 != nil || limit <= 0 {
		return
	}
	r := AppRateLimit{Limit: limit, Remaining: remaining, Used: limit - remaining}
	if used, err := strconv.Atoi(h.Get("X-RateLimit-Used")); err == nil {
		r.Used = used
	}
	r.Reset = rateLimitReset(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.rate; r.Reset.Equal(cur.Reset) && r.Used < cur.Used {
		return // an answer overtaken by a later one of the same window
	}
	c.rate = r
}

// RateLimit returns the App's budget as GitHub last reported it.
func (c *AppClient) RateLimit() AppRateLimit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// parseAppKey reads the App ID and private key of a credentials Secret.
func parseAppKey(data map[string][]byte) (int64, *rsa.PrivateKey, error) {
	if len(strings.TrimSpace(string(data[KeyAppID]))) == 0 || len(strings.TrimSpace(string(data[KeyPrivateKey]))) == 0 {
		return 0, nil, fmt.Errorf("%w: the App delivery log needs GitHub App keys %q and %q (a token cannot read it)",
			ErrInvalidCredentials, KeyAppID, KeyPrivateKey)
	}
	appID, err := parseID(data, KeyAppID)
	if err != nil {
		return 0, nil, err
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(data[KeyPrivateKey])
	if err != nil {
		return 0, nil, fmt.Errorf("%w: key %q is not a PEM-encoded RSA private key (PKCS#1 or PKCS#8)", ErrInvalidCredentials, KeyPrivateKey)
	}
	return appID, key, nil
}

// classify maps a go-github error. The App endpoints need no installation permission, so a
// 403 names none.
func (c *AppClient) classify(err error) error {
	err = c.cl.classify(err, opRead)
	var auth *AuthError
	if errors.As(err, &auth) {
		auth.Permission = ""
	}
	return err
}

// ListHookDeliveries lists the App's delivery attempts newest first, following GitHub's
// cursor pagination until an attempt older than since or with an ID at most afterID (0:
// none), or after maxPages pages of 100 (0 means 10). complete is false when it stopped at
// maxPages with older attempts left.
func (c *AppClient) ListHookDeliveries(ctx context.Context, since time.Time, afterID int64, maxPages int) (out []HookDelivery, complete bool, err error) {
	if maxPages <= 0 {
		maxPages = 10
	}
	opts := &gogithub.ListCursorOptions{PerPage: pageSize}
	for page := 0; page < maxPages; page++ {
		list, resp, err := c.gh.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return nil, false, fmt.Errorf("listing the App's webhook deliveries: %w", c.classify(err))
		}
		for _, d := range list {
			hd := toHookDelivery(d)
			if hd.DeliveredAt.Before(since) || hd.ID <= afterID {
				return out, true, nil
			}
			out = append(out, hd)
		}
		if resp.Cursor == "" || len(list) == 0 {
			return out, true, nil
		}
		opts.Cursor = resp.Cursor
	}
	return out, false, nil
}

// GetHookDelivery returns an attempt with its request headers and payload.
func (c *AppClient) GetHookDelivery(ctx context.Context, id int64) (HookDeliveryDetail, error) {
	d, _, err := c.gh.Apps.GetHookDelivery(ctx, id)
	if err != nil {
		return HookDeliveryDetail{}, fmt.Errorf("getting webhook delivery %d: %w", id, c.classify(err))
	}
	out := HookDeliveryDetail{HookDelivery: toHookDelivery(d)}
	if req := d.GetRequest(); req != nil {
		out.Headers = req.Headers
		if req.RawPayload != nil {
			out.Payload = append(json.RawMessage(nil), *req.RawPayload...)
		}
	}
	return out, nil
}

// RedeliverHookDelivery asks GitHub to send an attempt's event again to the App's webhook
// URL. GitHub answers at once and delivers later; the new attempt joins the log.
func (c *AppClient) RedeliverHookDelivery(ctx context.Context, id int64) error {
	if _, _, err := c.gh.Apps.RedeliverHookDelivery(ctx, id); err != nil {
		var accepted *gogithub.AcceptedError
		if errors.As(err, &accepted) {
			return nil
		}
		return fmt.Errorf("redelivering webhook delivery %d: %w", id, c.classify(err))
	}
	return nil
}

func toHookDelivery(d *gogithub.HookDelivery) HookDelivery {
	return HookDelivery{
		ID: d.GetID(), GUID: d.GetGUID(), DeliveredAt: d.GetDeliveredAt().Time, Redelivery: d.GetRedelivery(),
		StatusCode: d.GetStatusCode(), Status: d.GetStatus(), Event: d.GetEvent(), Action: d.GetAction(),
		InstallationID: d.GetInstallationID(),
	}
}
