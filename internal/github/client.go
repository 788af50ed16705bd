package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gogithub "github.com/google/go-github/v57/github"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Runner is a runner registration as GitHub reports it.
type Runner struct {
	ID     int64
	Name   string
	Online bool
	Busy   bool
	Labels []string
}

// JITRequest asks for a just-in-time runner configuration.
type JITRequest struct {
	// Name of the runner (see NewRunnerName).
	Name string
	// RunnerGroupID is the group to join (see Client.RunnerGroupID).
	RunnerGroupID int64
	// Labels are the runner's custom labels. GitHub requires at least one: when empty,
	// "self-hosted" (which every runner carries anyway) is sent.
	Labels []string
	// WorkFolder is the job working directory, relative to the runner; GitHub's default
	// "_work" when empty.
	WorkFolder string
}

// JITConfig is a registered runner's configuration. Encoded is a secret: it lets anyone
// start a runner with this registration. Formatting a JITConfig never shows it.
type JITConfig struct {
	RunnerID int64
	Encoded  string
}

// String describes the configuration without its secret.
func (c JITConfig) String() string {
	return fmt.Sprintf("JIT config for runner %d [redacted]", c.RunnerID)
}

// GoString is String, so that %#v shows no secret either.
func (c JITConfig) GoString() string { return c.String() }

// MarshalLog is what logr sinks log for the configuration: String.
func (c JITConfig) MarshalLog() any { return c.String() }

// apiCall is one go-github call.
type apiCall func(ctx context.Context, gh *gogithub.Client) error

// Client is one pool's view of GitHub: a scope and one or more credentials. Get it from a
// Factory. Safe for concurrent use.
type Client struct {
	scope    Scope
	creds    []*credential
	groupTTL time.Duration
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	maxWait  time.Duration // FactoryOptions.PacedWait
	next     atomic.Uint64 // rotation position for JIT calls
	lastUsed time.Time     // guarded by the Factory's mutex

	mu     sync.Mutex
	groups map[string]groupEntry
}

type groupEntry struct {
	id      int64
	expires time.Time
}

func newClient(scope Scope, creds []*credential, opts FactoryOptions) *Client {
	return &Client{scope: scope, creds: creds, groupTTL: opts.GroupCacheTTL, now: opts.Now, sleep: opts.Sleep, maxWait: opts.PacedWait,
		groups: map[string]groupEntry{}}
}

// Scope is the scope the client works on.
func (c *Client) Scope() Scope { return c.scope }

const pageSize = 100

// defaultRunnerGroupID is the ID of every scope's Default runner group.
const defaultRunnerGroupID = 1

// RunnerGroupID resolves a runner group name (case-insensitively; "" means "Default") to
// its ID, caching the answer. Every scope's Default group has ID 1 on GitHub (and GitHub
// Enterprise Server), so it costs no call; a repository has no other group. A missing group
// is ErrNotFound.
func (c *Client) RunnerGroupID(ctx context.Context, name string) (int64, error) {
	if name == "" || strings.EqualFold(name, "Default") {
		return defaultRunnerGroupID, nil
	}
	if c.scope.Kind == ScopeRepository {
		return 0, fmt.Errorf("runner group %q in %s: repositories have only the Default group: %w", name, c.scope, ErrNotFound)
	}
	cacheKey := strings.ToLower(name)
	c.mu.Lock()
	e, ok := c.groups[cacheKey]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.id, nil
	}
	id, err := c.findGroup(ctx, name)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.groups[cacheKey] = groupEntry{id: id, expires: c.now().Add(c.groupTTL)}
	c.mu.Unlock()
	return id, nil
}

func (c *Client) findGroup(ctx context.Context, name string) (int64, error) {
	var folded []int64
	for page := 1; page != 0; {
		var (
			names []string
			ids   []int64
			next  int
		)
		err := c.call(ctx, false, opRead, func(ctx context.Context, gh *gogithub.Client) error {
			opts := gogithub.ListOptions{PerPage: pageSize, Page: page}
			names, ids, next = nil, nil, 0
			if c.scope.Kind == ScopeEnterprise {
				groups, resp, err := gh.Enterprise.ListRunnerGroups(ctx, c.scope.Enterprise, &gogithub.ListEnterpriseRunnerGroupOptions{ListOptions: opts})
				if err != nil {
					return err
				}
				for _, g := range groups.RunnerGroups {
					names, ids = append(names, g.GetName()), append(ids, g.GetID())
				}
				next = resp.NextPage
				return nil
			}
			groups, resp, err := gh.Actions.ListOrganizationRunnerGroups(ctx, c.scope.Owner, &gogithub.ListOrgRunnerGroupOptions{ListOptions: opts})
			if err != nil {
				return err
			}
			for _, g := range groups.RunnerGroups {
				names, ids = append(names, g.GetName()), append(ids, g.GetID())
			}
			next = resp.NextPage
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("listing runner groups of %s: %w", c.scope, err)
		}
		for i, n := range names {
			if n == name {
				return ids[i], nil
			}
			if strings.EqualFold(n, name) {
				folded = append(folded, ids[i])
			}
		}
		page = next
	}
	if len(folded) == 1 {
		return folded[0], nil
	}
	return 0, fmt.Errorf("runner group %q in %s: %w", name, c.scope, ErrNotFound)
}

// GenerateJITConfig registers a runner and returns its just-in-time configuration. Calls
// are spread across the pool's credentials. A name already registered is ErrNameConflict.
// After a transient error the registration may exist anyway: retry with a new name and let
// the orphan sweep remove the other.
func (c *Client) GenerateJITConfig(ctx context.Context, req JITRequest) (JITConfig, error) {
	if req.Name == "" || req.RunnerGroupID <= 0 {
		return JITConfig{}, fmt.Errorf("generating JIT config: %w: runner name and group ID are required", ErrInvalidRequest)
	}
	body := &gogithub.GenerateJITConfigRequest{Name: req.Name, RunnerGroupID: req.RunnerGroupID, Labels: req.Labels}
	if len(body.Labels) == 0 {
		body.Labels = []string{"self-hosted"}
	}
	if req.WorkFolder != "" {
		body.WorkFolder = gogithub.String(req.WorkFolder)
	}
	var cfg *gogithub.JITRunnerConfig
	err := c.call(ctx, true, opJIT, func(ctx context.Context, gh *gogithub.Client) error {
		var err error
		switch c.scope.Kind {
		case ScopeRepository:
			cfg, _, err = gh.Actions.GenerateRepoJITConfig(ctx, c.scope.Owner, c.scope.Repo, body)
		case ScopeOrganization:
			cfg, _, err = gh.Actions.GenerateOrgJITConfig(ctx, c.scope.Owner, body)
		default:
			cfg, _, err = gh.Enterprise.GenerateEnterpriseJITConfig(ctx, c.scope.Enterprise, body)
		}
		return err
	})
	if err != nil {
		return JITConfig{}, fmt.Errorf("registering runner %s in %s: %w", req.Name, c.scope, err)
	}
	if cfg.GetRunner().GetID() == 0 || cfg.GetEncodedJITConfig() == "" {
		return JITConfig{}, fmt.Errorf("registering runner %s in %s: %w: answer lacks the runner ID or configuration",
			req.Name, c.scope, ErrTransient)
	}
	log.FromContext(ctx).V(1).Info("registered runner", "runner", req.Name, "runnerID", cfg.GetRunner().GetID())
	return JITConfig{RunnerID: cfg.GetRunner().GetID(), Encoded: cfg.GetEncodedJITConfig()}, nil
}

// ListRunners returns the registered runners whose names belong to the pool with this name
// prefix (OwnsRunnerName), reading every page. GitHub's list has no prefix filter, so the
// cost is one call per 100 runners of the whole scope.
func (c *Client) ListRunners(ctx context.Context, prefix string) ([]Runner, error) {
	if prefix == "" {
		return nil, fmt.Errorf("listing runners: %w: empty name prefix", ErrInvalidRequest)
	}
	var out []Runner
	for page := 1; page != 0; {
		var (
			list *gogithub.Runners
			next int
		)
		err := c.call(ctx, false, opRead, func(ctx context.Context, gh *gogithub.Client) error {
			opts := &gogithub.ListOptions{PerPage: pageSize, Page: page}
			var (
				resp *gogithub.Response
				err  error
			)
			switch c.scope.Kind {
			case ScopeRepository:
				list, resp, err = gh.Actions.ListRunners(ctx, c.scope.Owner, c.scope.Repo, opts)
			case ScopeOrganization:
				list, resp, err = gh.Actions.ListOrganizationRunners(ctx, c.scope.Owner, opts)
			default:
				list, resp, err = gh.Enterprise.ListRunners(ctx, c.scope.Enterprise, opts)
			}
			if err == nil {
				next = resp.NextPage
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("listing runners of %s: %w", c.scope, err)
		}
		for _, r := range list.Runners {
			if !OwnsRunnerName(prefix, r.GetName()) {
				continue
			}
			out = append(out, toRunner(r))
		}
		page = next
	}
	return out, nil
}

// GetRunner reads one runner registration by ID. A runner GitHub no longer has is
// ErrNotFound: unlike absence from a listing (whose pages shift while runners come and
// go), that answer proves the registration is gone.
func (c *Client) GetRunner(ctx context.Context, id int64) (Runner, error) {
	var r *gogithub.Runner
	err := c.call(ctx, false, opRead, func(ctx context.Context, gh *gogithub.Client) error {
		var err error
		switch c.scope.Kind {
		case ScopeRepository:
			r, _, err = gh.Actions.GetRunner(ctx, c.scope.Owner, c.scope.Repo, id)
		case ScopeOrganization:
			r, _, err = gh.Actions.GetOrganizationRunner(ctx, c.scope.Owner, id)
		default:
			// go-github v57 has no method for GET /enterprises/{e}/actions/runners/{id}.
			req, rerr := gh.NewRequest(http.MethodGet, fmt.Sprintf("enterprises/%v/actions/runners/%v", c.scope.Enterprise, id), nil)
			if rerr != nil {
				return rerr
			}
			r = new(gogithub.Runner)
			_, err = gh.Do(ctx, req, r)
		}
		return err
	})
	if err != nil {
		return Runner{}, fmt.Errorf("reading runner %d in %s: %w", id, c.scope, err)
	}
	return toRunner(r), nil
}

// toRunner is go-github's runner in this package's terms.
func toRunner(r *gogithub.Runner) Runner {
	labels := make([]string, 0, len(r.Labels))
	for _, l := range r.Labels {
		labels = append(labels, l.GetName())
	}
	return Runner{ID: r.GetID(), Name: r.GetName(), Online: r.GetStatus() == "online", Busy: r.GetBusy(), Labels: labels}
}

// DeleteRunner removes a runner registration. It is ErrNotFound when the runner is already
// gone and ErrRunnerBusy while it runs a job (GitHub refuses; keep the runner).
func (c *Client) DeleteRunner(ctx context.Context, id int64) error {
	err := c.call(ctx, false, opDelete, func(ctx context.Context, gh *gogithub.Client) error {
		var err error
		switch c.scope.Kind {
		case ScopeRepository:
			_, err = gh.Actions.RemoveRunner(ctx, c.scope.Owner, c.scope.Repo, id)
		case ScopeOrganization:
			_, err = gh.Actions.RemoveOrganizationRunner(ctx, c.scope.Owner, id)
		default:
			_, err = gh.Enterprise.RemoveRunner(ctx, c.scope.Enterprise, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting runner %d in %s: %w", id, c.scope, err)
	}
	log.FromContext(ctx).V(1).Info("deleted runner registration", "runnerID", id)
	return nil
}
