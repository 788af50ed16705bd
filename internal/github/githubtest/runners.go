package githubtest

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Scope names where runners register: Org, Repo or Enterprise.
type Scope string

// Org is the scope of organization org.
func Org(org string) Scope { return Scope("orgs/" + strings.ToLower(org)) }

// Repo is the scope of repository owner/repo.
func Repo(owner, repo string) Scope {
	return Scope("repos/" + strings.ToLower(owner) + "/" + strings.ToLower(repo))
}

// Enterprise is the scope of the enterprise with slug slug.
func Enterprise(slug string) Scope { return Scope("enterprises/" + strings.ToLower(slug)) }

func (sc Scope) kind() string {
	k, _, _ := strings.Cut(string(sc), "/")
	return k
}

func (sc Scope) owner() string {
	parts := strings.Split(string(sc), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// DefaultRunnerGroupID is the ID of every scope's "Default" runner group, as on GitHub.
const DefaultRunnerGroupID int64 = 1

// Runner is a registered self-hosted runner as GitHub sees it. The JSON form is the one the
// fake GitHub process (cmd/fake-github) lists on its control API.
type Runner struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Scope     Scope     `json:"scope"`
	GroupID   int64     `json:"groupID"`
	Labels    []string  `json:"labels"` // custom labels, without the read-only "self-hosted"
	Online    bool      `json:"online"`
	Busy      bool      `json:"busy"`
	Ephemeral bool      `json:"ephemeral"`
	WorkDir   string    `json:"workDir,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// RunnerSpec describes a runner to seed with AddRunner, e.g. an orphan or another pool's.
type RunnerSpec struct {
	Scope     Scope     `json:"scope,omitempty"`
	Name      string    `json:"name"`
	GroupID   int64     `json:"groupID,omitempty"` // 0: the Default group
	Labels    []string  `json:"labels,omitempty"`
	Online    bool      `json:"online,omitempty"`
	Busy      bool      `json:"busy,omitempty"`
	Ephemeral bool      `json:"ephemeral,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"` // zero: the fake's now
}

type runner struct {
	Runner
}

type runnerGroup struct {
	id        int64
	name      string
	isDefault bool
}

type scopeState struct {
	runners map[int64]*runner
	groups  []*runnerGroup
}

func (s *Server) scopeLocked(sc Scope) *scopeState {
	st, ok := s.scopes[sc]
	if !ok {
		st = &scopeState{
			runners: map[int64]*runner{},
			groups:  []*runnerGroup{{id: DefaultRunnerGroupID, name: "Default", isDefault: true}},
		}
		s.scopes[sc] = st
	}
	return st
}

// AddRunnerGroup creates a runner group in an organization or enterprise scope and returns
// its ID.
func (s *Server) AddRunnerGroup(sc Scope, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.scopeLocked(sc)
	g := &runnerGroup{id: s.nextIDLocked(), name: name}
	st.groups = append(st.groups, g)
	return g.id
}

// AddRunner registers a runner directly (no JIT call is counted).
func (s *Server) AddRunner(spec RunnerSpec) Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &runner{Runner{
		ID: s.nextIDLocked(), Name: spec.Name, Scope: spec.Scope, GroupID: spec.GroupID,
		Labels: append([]string(nil), spec.Labels...), Online: spec.Online, Busy: spec.Busy,
		Ephemeral: spec.Ephemeral, CreatedAt: spec.CreatedAt,
	}}
	if r.GroupID == 0 {
		r.GroupID = DefaultRunnerGroupID
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.nowLocked()
	}
	s.scopeLocked(spec.Scope).runners[r.ID] = r
	s.registeredLocked(r, ViaAdded)
	return r.snapshot()
}

func (r *runner) snapshot() Runner {
	c := r.Runner
	c.Labels = append([]string(nil), r.Labels...)
	return c
}

// Runners is a snapshot of every registered runner, ordered by ID.
func (s *Server) Runners() []Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Runner
	for _, st := range s.scopes {
		for _, r := range st.runners {
			out = append(out, r.snapshot())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Runner returns the registered runner called name.
func (s *Server) Runner(name string) (Runner, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, r, err := s.findLocked(name)
	if err != nil {
		return Runner{}, false
	}
	return r.snapshot(), true
}

// SetOnline marks runner name online, as when its runner process connects.
func (s *Server) SetOnline(name string) error {
	return s.update(name, func(_ *scopeState, r *runner) error {
		r.Online = true
		return nil
	})
}

// SetOffline marks runner name offline, as when its runner process disappears.
func (s *Server) SetOffline(name string) error {
	return s.update(name, func(_ *scopeState, r *runner) error {
		r.Online = false
		return nil
	})
}

// StartJob assigns a job to runner name, which must be online and idle.
func (s *Server) StartJob(name string) error {
	return s.update(name, func(_ *scopeState, r *runner) error {
		if !r.Online || r.Busy {
			return fmt.Errorf("githubtest: runner %q cannot take a job (online=%t busy=%t)", name, r.Online, r.Busy)
		}
		r.Busy = true
		return nil
	})
}

// FinishJob completes runner name's job: an ephemeral runner is removed, as GitHub does,
// another becomes idle.
func (s *Server) FinishJob(name string) error {
	return s.update(name, func(st *scopeState, r *runner) error {
		if !r.Busy {
			return fmt.Errorf("githubtest: runner %q is not running a job", name)
		}
		r.Busy = false
		if r.Ephemeral {
			s.removeLocked(st, r, RemovedByJob)
		}
		return nil
	})
}

// RemoveRunner deletes runner name's registration, as when GitHub drops a runner that never
// connected.
func (s *Server) RemoveRunner(name string) error {
	return s.update(name, func(st *scopeState, r *runner) error {
		s.removeLocked(st, r, RemovedByControl)
		return nil
	})
}

func (s *Server) update(name string, f func(*scopeState, *runner) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, r, err := s.findLocked(name)
	if err != nil {
		return err
	}
	return f(st, r)
}

func (s *Server) findLocked(name string) (*scopeState, *runner, error) {
	var (
		foundScope *scopeState
		found      *runner
	)
	for _, st := range s.scopes {
		for _, r := range st.runners {
			if r.Name != name {
				continue
			}
			if found != nil {
				return nil, nil, fmt.Errorf("githubtest: runner name %q is registered in several scopes", name)
			}
			foundScope, found = st, r
		}
	}
	if found == nil {
		return nil, nil, fmt.Errorf("githubtest: no runner named %q", name)
	}
	return foundScope, found, nil
}
