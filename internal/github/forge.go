package github

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corral-run/corral/internal/forge"
)

// Forge is GitHub seen through the controller's forge-neutral vocabulary: a Client whose
// errors are mapped to the forge package's. Get it from Factory.Forge.
type Forge struct {
	client *Client
	now    func() time.Time
}

// Forge returns the forge of a pool's target: its scope parsed from the URL, its
// credentials and connection settings. Clients (and their installation tokens and
// rate-limit state) are shared as Factory.Client describes. A target that cannot work as
// written is forge.ErrMisconfigured.
func (f *Factory) Forge(t forge.Target) (*Forge, error) {
	scope, err := ParseScope(t.URL)
	if err != nil {
		return nil, mapped(forge.ErrMisconfigured, fmt.Errorf("parsing the GitHub URL: %w", err))
	}
	creds := make([]CredentialSource, len(t.Credentials))
	for i, c := range t.Credentials {
		creds[i] = CredentialSource{Key: c.Key, ResourceVersion: c.ResourceVersion, Data: c.Data}
	}
	c, err := f.Client(scope, creds, ConnOptions{CABundle: t.CABundle, ProxyURL: t.Proxy})
	if err != nil {
		return nil, toForgeError(err, f.opts.Now)
	}
	return &Forge{client: c, now: f.opts.Now}, nil
}

// Client is the GitHub client behind the forge.
func (g *Forge) Client() *Client { return g.client }

// Register registers a runner in the group named by spec (resolved and cached) and returns
// its just-in-time configuration.
func (g *Forge) Register(ctx context.Context, spec forge.RunnerSpec) (forge.Registration, error) {
	group, err := g.client.RunnerGroupID(ctx, spec.Group)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return forge.Registration{}, mapped(forge.ErrMisconfigured, fmt.Errorf("resolving runner group %q: %w", spec.Group, err))
		}
		return forge.Registration{}, toForgeError(fmt.Errorf("resolving runner group %q: %w", spec.Group, err), g.now)
	}
	jit, err := g.client.GenerateJITConfig(ctx, JITRequest{Name: spec.Name, RunnerGroupID: group, Labels: spec.Labels, WorkFolder: spec.WorkFolder})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// The scope itself is unknown, or the credential may not see it.
			return forge.Registration{}, mapped(forge.ErrMisconfigured, err)
		}
		return forge.Registration{}, toForgeError(err, g.now)
	}
	return forge.Registration{ID: jit.RunnerID, Config: jit.Encoded}, nil
}

// Runner reads one registration; forge.ErrGone when GitHub no longer has it.
func (g *Forge) Runner(ctx context.Context, id int64) (forge.Runner, error) {
	r, err := g.client.GetRunner(ctx, id)
	if err != nil {
		return forge.Runner{}, toForgeError(err, g.now)
	}
	return forge.Runner{ID: r.ID, Name: r.Name, Online: r.Online, Busy: r.Busy}, nil
}

// Runners lists the registrations whose names carry prefix (see OwnsRunnerName).
func (g *Forge) Runners(ctx context.Context, prefix string) ([]forge.Runner, error) {
	list, err := g.client.ListRunners(ctx, prefix)
	if err != nil {
		return nil, toForgeError(err, g.now)
	}
	out := make([]forge.Runner, len(list))
	for i, r := range list {
		out[i] = forge.Runner{ID: r.ID, Name: r.Name, Online: r.Online, Busy: r.Busy}
	}
	return out, nil
}

// Deregister removes a registration: forge.ErrGone when it is already gone, forge.ErrBusy
// while its runner runs a job.
func (g *Forge) Deregister(ctx context.Context, id int64) error {
	return toForgeError(g.client.DeleteRunner(ctx, id), g.now)
}

// forgeError is an error of this package that also matches a forge error kind.
type forgeError struct {
	kind error
	err  error
}

func (e *forgeError) Error() string   { return e.err.Error() }
func (e *forgeError) Unwrap() []error { return []error{e.kind, e.err} }

func mapped(kind, err error) error { return &forgeError{kind: kind, err: err} }

// toForgeError maps an error of a Client call to the forge's vocabulary. A 404 means the
// runner is gone: callers for which it means something else map it first.
func toForgeError(err error, now func() time.Time) error {
	var (
		rl   *RateLimitError
		auth *AuthError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rl):
		return &forge.RateLimitError{Until: now().Add(rl.RetryAfter), Paced: rl.Paced, Err: err}
	case errors.As(err, &auth) && auth.StatusCode == 403:
		return mapped(forge.ErrForbidden, err)
	case errors.As(err, &auth):
		return mapped(forge.ErrUnauthorized, err)
	case errors.Is(err, ErrNotFound):
		return mapped(forge.ErrGone, err)
	case errors.Is(err, ErrRunnerBusy):
		return mapped(forge.ErrBusy, err)
	case errors.Is(err, ErrInvalidCredentials):
		return mapped(forge.ErrCredentialsInvalid, err)
	case errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrInvalidRequest):
		return mapped(forge.ErrMisconfigured, err)
	default:
		// Transient errors, name conflicts (a retry picks a new name), cancellations.
		return mapped(forge.ErrTransient, err)
	}
}
