package github

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Errors the controller acts on. Every error of a Client call either matches one of these
// with errors.Is, or is a *RateLimitError or *AuthError (errors.As).
var (
	// ErrNotFound: the runner, runner group or scope does not exist (or the credential may
	// not see it, which GitHub answers the same way).
	ErrNotFound = errors.New("not found on GitHub")
	// ErrRunnerBusy: GitHub refused to delete a runner that is running a job.
	ErrRunnerBusy = errors.New("runner is running a job")
	// ErrNameConflict: a runner with the requested name is already registered.
	ErrNameConflict = errors.New("runner name already registered")
	// ErrInvalidRequest: GitHub rejected the request as invalid (422), e.g. a bad label.
	ErrInvalidRequest = errors.New("request rejected by GitHub as invalid")
	// ErrTransient: a server error (5xx), timeout or network failure; retry with backoff.
	ErrTransient = errors.New("transient GitHub error")
	// ErrInvalidConfig: the connection settings (CA bundle, proxy, scope) are unusable.
	ErrInvalidConfig = errors.New("invalid GitHub connection settings")
)

// RateLimitError says a credential (or every credential of a pool) is rate limited.
type RateLimitError struct {
	// RetryAfter is how long to wait from when the error was returned.
	RetryAfter time.Duration
	// Reset is when the limit lifts.
	Reset time.Time
	// Secondary is true for a secondary (abuse) limit, false for the hourly primary limit.
	Secondary bool
	// Paced: GitHub was not asked. Corral's pacer holds a content-creating call until a slot
	// under the secondary limit frees (GitHub answered nothing).
	Paced bool
	// Credential is the key ("namespace/name") of the limited credential Secret.
	Credential string
	// Message is GitHub's message, scrubbed of anything that looks like a secret.
	Message string
}

// Error describes the limit.
func (e *RateLimitError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	msg := fmt.Sprintf("GitHub %s rate limit reached", kind)
	if e.Credential != "" {
		msg += " for credential " + e.Credential
	}
	msg += fmt.Sprintf(", retry in %s", e.RetryAfter.Round(time.Second))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// AuthError says GitHub refused the credential (401) or what it asked for (403), e.g.
// because the App lacks a permission or cannot be used for this scope.
type AuthError struct {
	// StatusCode is 401 or 403 (or 404 when minting a token for an unknown installation).
	StatusCode int
	// Permission is the permission that was missing, e.g.
	// "organization_self_hosted_runners=write", when known.
	Permission string
	// Credential is the key ("namespace/name") of the refused credential Secret.
	Credential string
	// Message is GitHub's message, scrubbed of anything that looks like a secret.
	Message string
}

// Error describes the refusal.
func (e *AuthError) Error() string {
	msg := "GitHub refused the credential"
	if e.StatusCode == 403 {
		msg = "GitHub denied access"
	}
	if e.Credential != "" {
		msg += " " + e.Credential
	}
	msg += " (" + strconv.Itoa(e.StatusCode) + ")"
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Permission != "" {
		msg += "; it needs the permission " + e.Permission
	}
	return msg
}

// statusError is a GitHub answer mapped to one of the sentinel errors.
type statusError struct {
	kind    error
	status  int
	message string
}

func (e *statusError) Error() string {
	if e.status == 0 {
		return fmt.Sprintf("%v: %s", e.kind, e.message)
	}
	return fmt.Sprintf("%v (%d): %s", e.kind, e.status, e.message)
}

func (e *statusError) Unwrap() error { return e.kind }

// StatusCode is the HTTP status GitHub answered, 0 when no answer came.
func (e *statusError) StatusCode() int { return e.status }

// IsRetryable reports whether retrying the same call later may succeed: transient errors
// and rate limits.
func IsRetryable(err error) bool {
	var rl *RateLimitError
	return errors.Is(err, ErrTransient) || errors.As(err, &rl)
}

// RetryAfter is how long to wait before retrying after err: the rate limit's RetryAfter, or
// 0 when err carries no such hint.
func RetryAfter(err error) time.Duration {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter
	}
	return 0
}
