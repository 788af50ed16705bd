package githubtest

import "time"

// How a registration came to be (Registration.Via).
const (
	// ViaJIT: a generate-jitconfig call registered the runner.
	ViaJIT = "jit"
	// ViaAdded: a test seeded it with AddRunner.
	ViaAdded = "added"
)

// Why a registration went away (Registration.RemovedBy).
const (
	// RemovedByAPI: a DELETE .../actions/runners/{id} call removed it (Corral deregistering).
	RemovedByAPI = "api"
	// RemovedByJob: an ephemeral runner finished its job and GitHub removed it.
	RemovedByJob = "job"
	// RemovedByControl: a test removed it with RemoveRunner (GitHub dropping a runner).
	RemovedByControl = "control"
)

// Registration is one runner registration over its whole life, kept after the runner is
// gone: the fake's record of every registration it ever held, for suites that check that
// none was wasted or left behind.
type Registration struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Scope     Scope     `json:"scope"`
	Via       string    `json:"via"`
	CreatedAt time.Time `json:"createdAt"`
	// RemovedAt is zero while the registration exists.
	RemovedAt time.Time `json:"removedAt,omitzero"`
	RemovedBy string    `json:"removedBy,omitempty"`
}

// history is every registration and JIT configuration the fake handed out, guarded by
// Server.mu.
type history struct {
	registrations []*Registration
	byID          map[int64]*Registration
	jitConfigs    []string
}

func (s *Server) registeredLocked(r *runner, via string) {
	if s.history.byID == nil {
		s.history.byID = map[int64]*Registration{}
	}
	reg := &Registration{ID: r.ID, Name: r.Name, Scope: r.Scope, Via: via, CreatedAt: s.nowLocked()}
	s.history.registrations = append(s.history.registrations, reg)
	s.history.byID[r.ID] = reg
}

// removeLocked deletes r from its scope and records why.
func (s *Server) removeLocked(st *scopeState, r *runner, by string) {
	delete(st.runners, r.ID)
	if reg, ok := s.history.byID[r.ID]; ok {
		reg.RemovedAt, reg.RemovedBy = s.nowLocked(), by
	}
}

// Registrations returns every registration the fake ever held, in creation order, with
// when and why each one that is gone went away.
func (s *Server) Registrations() []Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Registration, 0, len(s.history.registrations))
	for _, r := range s.history.registrations {
		out = append(out, *r)
	}
	return out
}

// IssuedJITConfigs returns every encoded JIT configuration the fake answered with: secrets
// that must never appear in a log.
func (s *Server) IssuedJITConfigs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.history.jitConfigs...)
}
