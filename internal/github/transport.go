package github

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
)

// DefaultMaxResponseBytes caps GitHub answers: a page of 100 runners is about 50 KiB.
const DefaultMaxResponseBytes int64 = 8 << 20

// instrumentedTransport sits under the authentication transports of one credential: it sees
// every request (token mints included), records metrics, logs without headers or bodies,
// caps response sizes and reports rate-limit headers.
type instrumentedTransport struct {
	base       http.RoundTripper
	credential string
	metrics    *metrics
	maxBytes   int64
	// observe receives the rate-limit headers of every API (non-token) answer.
	observe func(h http.Header)
}

// RoundTrip implements http.RoundTripper.
func (t *instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	endpoint := endpointOf(req.URL.Path)
	mint := isTokenMint(req.Method, endpoint)
	resp, err := t.base.RoundTrip(req)
	elapsed := time.Since(start)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.metrics.requests.WithLabelValues(endpoint, req.Method, code).Inc()
	t.metrics.duration.WithLabelValues(endpoint, req.Method).Observe(elapsed.Seconds())
	logger := log.FromContext(req.Context()).WithValues("credential", t.credential, "method", req.Method, "endpoint", endpoint)
	if err != nil {
		logger.V(1).Info("github request failed", "duration", elapsed, "error", redact(err.Error()))
		return nil, err
	}
	logger.V(1).Info("github request", "code", resp.StatusCode, "duration", elapsed)
	if mint {
		result := "success"
		if resp.StatusCode != http.StatusCreated {
			result = "failure"
		}
		t.metrics.mints.WithLabelValues(t.credential, result).Inc()
		logger.V(1).Info("installation token requested", "result", result)
	} else if v, perr := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining")); perr == nil {
		t.metrics.remaining.WithLabelValues(t.credential).Set(float64(v))
		if t.observe != nil {
			t.observe(resp.Header)
		}
	}
	if resp.ContentLength > t.maxBytes {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("answer of %s %s has %d bytes, more than the %d bytes allowed", req.Method, endpoint, resp.ContentLength, t.maxBytes)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.maxBytes, what: req.Method + " " + endpoint}
	return resp, nil
}

// cappedBody fails reads past a size limit.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
	what string
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Allow the read that finds EOF exactly at the limit.
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, fmt.Errorf("answer of %s exceeds the size limit", b.what)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// endpointOf turns a request path into a template of bounded cardinality for metrics and
// logs, e.g. /api/v3/orgs/acme/actions/runners/42 -> /orgs/{org}/actions/runners/{id}.
func endpointOf(path string) string {
	path = strings.TrimPrefix(path, "/api/v3")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 0 || segs[0] == "" {
		return "/"
	}
	switch segs[0] {
	case "repos":
		setSeg(segs, 1, "{owner}")
		setSeg(segs, 2, "{repo}")
	case "orgs":
		setSeg(segs, 1, "{org}")
	case "enterprises":
		setSeg(segs, 1, "{enterprise}")
	case "app", "rate_limit":
	default:
		return "other"
	}
	for i, s := range segs {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			segs[i] = "{id}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

func setSeg(segs []string, i int, v string) {
	if i < len(segs) {
		segs[i] = v
	}
}

func isTokenMint(method, endpoint string) bool {
	return method == http.MethodPost && endpoint == "/app/installations/{id}/access_tokens"
}
