// Package forge holds the forge-neutral vocabulary between the controller and the forges
// runners register with (GitHub today): what a registration looks like, what to ask for,
// where the forge is, and the errors the controller acts on. A forge implementation maps
// its own answers to these errors; the controller never sees an HTTP status.
package forge

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Errors a forge call returns, matched with errors.Is. An error that matches none of them
// and is no *RateLimitError is treated as ErrTransient.
var (
	// ErrGone: the runner registration does not exist (any more).
	ErrGone = errors.New("runner registration is gone")
	// ErrBusy: the forge refuses to remove a runner that is running a job.
	ErrBusy = errors.New("runner is running a job")
	// ErrUnauthorized: the forge refused the credential itself (revoked key, wrong App or
	// installation). Only a new credential helps.
	ErrUnauthorized = errors.New("credential refused")
	// ErrForbidden: the credential works but lacks a permission for this scope.
	ErrForbidden = errors.New("permission denied")
	// ErrCredentialsInvalid: a credentials Secret cannot be used as written (missing keys,
	// a key that is no RSA private key, both an App and a token). A user must fix it.
	ErrCredentialsInvalid = errors.New("credentials invalid")
	// ErrMisconfigured: the pool asks for something that cannot exist as written (an
	// unknown runner group, a scope the credential cannot see, unusable connection
	// settings). A user must change the pool or its class.
	ErrMisconfigured = errors.New("misconfigured")
	// ErrTransient: a server error, timeout or network failure; retry with backoff.
	ErrTransient = errors.New("forge unavailable")
)

// RateLimitError says the forge asks to wait until Until before calling again.
type RateLimitError struct {
	Until time.Time
	// Paced: the forge was not asked. The client's own pacer holds the call until Until so
	// that it stays under the forge's limit: nothing failed, nothing backs off.
	Paced bool
	// Err is the forge's own description (it never carries a secret).
	Err error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited until %s: %v", e.Until.UTC().Format(time.RFC3339), e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// Runner is a runner registration as the forge reports it.
type Runner struct {
	ID     int64
	Name   string
	Online bool
	Busy   bool
}

// RunnerSpec asks for a new runner registration.
type RunnerSpec struct {
	// Name is unique within the forge's scope.
	Name string
	// Group is the runner group's name; empty means the forge's default.
	Group string
	// Labels are the runner's custom labels.
	Labels []string
	// WorkFolder is the job working directory relative to the runner's home.
	WorkFolder string
}

// Registration is a registered runner and the configuration it starts with. Config is a
// secret (it lets anyone start a runner with this registration): formatting a
// Registration never shows it.
type Registration struct {
	ID     int64
	Config string
}

// String describes the registration without its secret.
func (r Registration) String() string {
	return fmt.Sprintf("registration of runner %d [config redacted]", r.ID)
}

// GoString is String, so that %#v shows no secret either.
func (r Registration) GoString() string { return r.String() }

// MarshalLog is what logr sinks log for the registration: String.
func (r Registration) MarshalLog() any { return r.String() }

// Credential is a credentials Secret as the controller read it.
type Credential struct {
	// Key identifies the Secret, "namespace/name"; it labels metrics and logs.
	Key string
	// ResourceVersion of the Secret: a change invalidates cached clients.
	ResourceVersion string
	// Data is the Secret's data.
	Data map[string][]byte
}

// String names the Secret, never its data.
func (c Credential) String() string { return "credentials Secret " + c.Key + " [data redacted]" }

// GoString is String.
func (c Credential) GoString() string { return c.String() }

// Target says where a pool's runners register and how to get there.
type Target struct {
	// URL is the scope (organization, repository, enterprise) on the forge's host.
	URL string
	// Credentials are the pool's credentials, the main one first.
	Credentials []Credential
	// CABundle holds PEM certificates trusted in addition to the system roots.
	CABundle []byte
	// Proxy is the HTTP(S) proxy for every request; nil means none.
	Proxy *url.URL
}

// Kind is the class of a forge error, for conditions and metrics.
type Kind string

// Kinds of forge errors.
const (
	KindGone          Kind = "Gone"
	KindBusy          Kind = "Busy"
	KindUnauthorized  Kind = "Unauthorized"
	KindForbidden     Kind = "Forbidden"
	KindCredentials   Kind = "CredentialsInvalid"
	KindMisconfigured Kind = "Misconfigured"
	KindRateLimited   Kind = "RateLimited"
	KindTransient     Kind = "Transient"
)

// KindOf classifies err; nil is "".
func KindOf(err error) Kind {
	var rl *RateLimitError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &rl):
		return KindRateLimited
	case errors.Is(err, ErrGone):
		return KindGone
	case errors.Is(err, ErrBusy):
		return KindBusy
	case errors.Is(err, ErrUnauthorized):
		return KindUnauthorized
	case errors.Is(err, ErrForbidden):
		return KindForbidden
	case errors.Is(err, ErrCredentialsInvalid):
		return KindCredentials
	case errors.Is(err, ErrMisconfigured):
		return KindMisconfigured
	default:
		return KindTransient
	}
}

// Fatal reports whether a kind of error needs a user's fix: retrying cannot help.
func (k Kind) Fatal() bool {
	return k == KindUnauthorized || k == KindForbidden || k == KindCredentials || k == KindMisconfigured
}
