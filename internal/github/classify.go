package github

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gogithub "github.com/google/go-github/v57/github"
)

// operation is the kind of call whose error is classified: GitHub's 409 and 422 mean
// different things on different endpoints.
type operation int

const (
	opRead operation = iota
	opJIT
	opDelete
)

func (op operation) writes() bool { return op != opRead }

// defaultSecondaryWait is how long to back off from a secondary limit that named no time.
const defaultSecondaryWait = time.Minute

// classifier maps errors of go-github and ghinstallation to this package's errors.
type classifier struct {
	scope      Scope
	credential string
	now        func() time.Time
}

// classify maps err, returned by a go-github call for op, to a typed error. It never keeps
// go-github's error (whose response holds the request and its Authorization header).
func (c classifier) classify(err error, op operation) error {
	var (
		rl      *gogithub.RateLimitError
		abuse   *gogithub.AbuseRateLimitError
		errResp *gogithub.ErrorResponse
		mint    *ghinstallation.HTTPError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mint):
		return c.mintError(mint)
	case errors.As(err, &rl):
		// go-github answers this without a request while a known primary limit lasts.
		return c.primary(rl.Rate.Reset.Time, rl.Message)
	case errors.As(err, &abuse):
		wait := defaultSecondaryWait
		if abuse.RetryAfter != nil && *abuse.RetryAfter > 0 {
			wait = *abuse.RetryAfter
		}
		return c.secondary(wait, abuse.Message)
	case errors.As(err, &errResp) && errResp.Response != nil:
		return c.status(errResp.Response, errorMessage(errResp), op)
	default:
		return transportError(err, "calling GitHub")
	}
}

// transportError maps a failure to get an answer at all.
func transportError(err error, doing string) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", doing, context.Canceled)
	case errors.As(err, new(*tls.CertificateVerificationError)):
		// Retrying cannot help: the CA bundle (or the server's certificate) must change.
		return &statusError{kind: ErrInvalidConfig, message: doing + ": " + redact(err.Error())}
	default:
		// Network failures, timeouts, oversized or malformed answers.
		return &statusError{kind: ErrTransient, message: doing + ": " + redact(err.Error())}
	}
}

// rateLimitReset is when the primary window of an answer's x-ratelimit-reset header ends;
// zero without a usable one.
func rateLimitReset(h http.Header) time.Time {
	if v, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && v > 0 {
		return time.Unix(v, 0)
	}
	return time.Time{}
}

// status maps a non-2xx answer.
func (c classifier) status(resp *http.Response, msg string, op operation) error {
	code := resp.StatusCode
	h := resp.Header
	if code == http.StatusForbidden || code == http.StatusTooManyRequests {
		switch {
		case h.Get("X-RateLimit-Remaining") == "0":
			return c.primary(rateLimitReset(h), msg)
		case h.Get("Retry-After") != "" || strings.Contains(strings.ToLower(msg), "secondary rate limit"):
			wait := defaultSecondaryWait
			if v, err := strconv.Atoi(h.Get("Retry-After")); err == nil && v > 0 {
				wait = time.Duration(v) * time.Second
			}
			return c.secondary(wait, msg)
		case code == http.StatusTooManyRequests:
			return c.secondary(defaultSecondaryWait, msg)
		}
	}
	switch {
	case code == http.StatusUnauthorized:
		return &AuthError{StatusCode: code, Credential: c.credential, Message: msg}
	case code == http.StatusForbidden:
		perm := h.Get("X-Accepted-GitHub-Permissions")
		if perm == "" {
			perm = c.scope.requiredPermission(op.writes())
		}
		return &AuthError{StatusCode: code, Permission: perm, Credential: c.credential, Message: msg}
	case code == http.StatusNotFound:
		return &statusError{kind: ErrNotFound, status: code, message: msg}
	case code == http.StatusConflict && op == opJIT:
		return &statusError{kind: ErrNameConflict, status: code, message: msg}
	case code == http.StatusUnprocessableEntity && op == opDelete:
		return &statusError{kind: ErrRunnerBusy, status: code, message: msg}
	case code == http.StatusUnprocessableEntity && op == opJIT && strings.Contains(strings.ToLower(msg), "already exists"):
		return &statusError{kind: ErrNameConflict, status: code, message: msg}
	case code >= 500:
		return &statusError{kind: ErrTransient, status: code, message: msg}
	default:
		return &statusError{kind: ErrInvalidRequest, status: code, message: msg}
	}
}

// mintError maps a failure to mint an installation token.
func (c classifier) mintError(e *ghinstallation.HTTPError) error {
	if e.Response == nil {
		cause := e.RootCause
		if cause == nil {
			cause = errors.New("no answer")
		}
		return transportError(cause, "minting installation token")
	}
	// ghinstallation leaves the body of a refused request open.
	body, _ := io.ReadAll(io.LimitReader(e.Response.Body, 64<<10))
	_ = e.Response.Body.Close()
	var parsed struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &parsed)
	msg := "minting installation token: " + redact(parsed.Message)
	switch code := e.Response.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusNotFound ||
		(code == http.StatusForbidden && e.Response.Header.Get("X-RateLimit-Remaining") != "0"):
		return &AuthError{StatusCode: code, Credential: c.credential, Message: msg}
	default:
		return c.status(e.Response, msg, opRead)
	}
}

func (c classifier) primary(reset time.Time, msg string) *RateLimitError {
	now := c.now()
	if reset.IsZero() || reset.Before(now) {
		reset = now.Add(time.Second)
	}
	return &RateLimitError{Reset: reset, RetryAfter: reset.Sub(now), Credential: c.credential, Message: redact(msg)}
}

func (c classifier) secondary(wait time.Duration, msg string) *RateLimitError {
	return &RateLimitError{Reset: c.now().Add(wait), RetryAfter: wait, Secondary: true, Credential: c.credential, Message: redact(msg)}
}

// errorMessage is GitHub's message with its field errors, scrubbed.
func errorMessage(e *gogithub.ErrorResponse) string {
	msg := e.Message
	for _, fe := range e.Errors {
		detail := fe.Message
		if detail == "" {
			detail = strings.TrimSpace(fe.Field + " " + fe.Code)
		}
		if detail != "" {
			msg += "; " + detail
		}
	}
	return redact(msg)
}
