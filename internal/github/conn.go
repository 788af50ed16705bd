package github

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
)

// ConnOptions say how to reach GitHub. The zero value trusts the system roots and uses no
// proxy (HTTP_PROXY and friends in the operator's environment are ignored: a pool names its
// proxy explicitly).
type ConnOptions struct {
	// CABundle holds PEM certificates trusted in addition to the system roots, e.g. the CA
	// of a GitHub Enterprise Server.
	CABundle []byte
	// ProxyURL is the HTTP(S) proxy for all requests (HTTPS goes through CONNECT).
	ProxyURL *url.URL
}

// key identifies the options in caches.
func (o ConnOptions) key() string {
	sum := sha256.Sum256(o.CABundle)
	proxy := ""
	if o.ProxyURL != nil {
		proxy = o.ProxyURL.String()
	}
	return hex.EncodeToString(sum[:8]) + "|" + proxy
}

func (o ConnOptions) isZero() bool { return len(o.CABundle) == 0 && o.ProxyURL == nil }

// newBaseTransport builds the transport all credentials with the same options share, so
// that TCP and TLS connections are reused. base is the Factory's Transport option.
func newBaseTransport(base http.RoundTripper, o ConnOptions) (http.RoundTripper, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		if !o.isZero() {
			return nil, fmt.Errorf("%w: a CA bundle or proxy needs an *http.Transport base, not %T", ErrInvalidConfig, base)
		}
		return base, nil
	}
	t := ht.Clone()
	t.Proxy = nil
	if o.ProxyURL != nil {
		if o.ProxyURL.Scheme != "http" && o.ProxyURL.Scheme != "https" {
			return nil, fmt.Errorf("%w: proxy URL scheme must be http or https, not %q", ErrInvalidConfig, o.ProxyURL.Scheme)
		}
		t.Proxy = http.ProxyURL(o.ProxyURL)
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.MinVersion = tls.VersionTLS12
	if len(o.CABundle) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(o.CABundle) {
			return nil, fmt.Errorf("%w: the CA bundle holds no PEM certificate", ErrInvalidConfig)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}
