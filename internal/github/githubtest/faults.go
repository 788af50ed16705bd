package githubtest

import (
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// Fault is a failure the fake injects into matching requests, before authentication and rate
// limiting.
type Fault struct {
	// Endpoint is one of the Endpoint constants; empty matches every endpoint.
	Endpoint string
	// Credential is an App.Credential or PAT.Credential; empty matches every caller.
	Credential string
	// Latency delays the answer.
	Latency time.Duration
	// Status, when set (e.g. 500, 502, 503), is answered instead of the real response. A 403
	// or 429 is answered as GitHub answers a secondary rate limit: its message and a
	// Retry-After header (RetryAfter).
	Status int
	// Statuses, when set, are answered instead of Status: one picked at random per hit.
	Statuses []int
	// RetryAfter is the Retry-After of a 403 or 429 answer, rounded up to seconds; 1 s when 0.
	RetryAfter time.Duration
	// Probability is the share of matching requests hit, in (0, 1]; 0 hits every one. Which
	// ones is random, but the share holds over every few requests rather than only on
	// average: hits are dealt from shuffled decks of deckSize requests holding
	// Probability*deckSize hits (the fraction of a hit decided at random per deck). A request
	// the fault spares is matched against the faults added after it.
	Probability float64
	// Hang holds the request without answering until the client gives up or the server
	// closes, to exercise client timeouts.
	Hang bool
	// Times is how many requests the fault hits; 0 means until removed.
	Times int
}

type faultEntry struct {
	Fault
	hits int
	deck []bool // the next requests' fates under Probability, drawn from the end
}

// deckSize is how many requests a deck of a probabilistic fault decides.
const deckSize = 10

// spares reports whether the fault's probability spares the next matching request.
func (e *faultEntry) spares() bool {
	if e.Probability <= 0 || e.Probability >= 1 {
		return false
	}
	if len(e.deck) == 0 {
		want := e.Probability * deckSize
		hits := int(want)
		if rand.Float64() < want-float64(hits) { //nolint:gosec // test fault, not security
			hits++
		}
		e.deck = make([]bool, deckSize)
		for i := range hits {
			e.deck[i] = true
		}
		rand.Shuffle(deckSize, func(i, j int) { e.deck[i], e.deck[j] = e.deck[j], e.deck[i] }) //nolint:gosec // test fault
	}
	hit := e.deck[len(e.deck)-1]
	e.deck = e.deck[:len(e.deck)-1]
	return !hit
}

// InjectFault adds f and returns a function that removes it. Faults are matched in the order
// they were added; the first match applies.
func (s *Server) InjectFault(f Fault) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &faultEntry{Fault: f}
	s.faults = append(s.faults, e)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, x := range s.faults {
			if x == e {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
				return
			}
		}
	}
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the fault hitting a request of cred on endpoint, counting the hit.
func (s *Server) takeFault(endpoint, cred string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.faults {
		if (e.Endpoint != "" && e.Endpoint != endpoint) || (e.Credential != "" && e.Credential != cred) {
			continue
		}
		if e.spares() {
			continue
		}
		e.hits++
		if e.Times > 0 && e.hits >= e.Times {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		f := e.Fault
		if len(f.Statuses) > 0 {
			f.Status = f.Statuses[rand.IntN(len(f.Statuses))] //nolint:gosec // test fault, not security
		}
		if f.Status != 0 && !f.Hang {
			s.answers[f.Status]++
		}
		return &f
	}
	return nil
}

// FaultAnswers counts the answers faults gave instead of the real response, by status.
func (s *Server) FaultAnswers() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.answers))
	for k, v := range s.answers {
		out[k] = v
	}
	return out
}

// applyFault plays f and reports whether the request should still be served normally.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-s.closed:
			writeError(w, &apiError{status: http.StatusServiceUnavailable, message: "Service Unavailable"})
			return false
		}
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closed:
			writeError(w, &apiError{status: http.StatusServiceUnavailable, message: "Service Unavailable"})
		}
		return false
	}
	switch f.Status {
	case 0:
		return true
	case http.StatusForbidden, http.StatusTooManyRequests:
		retry := max(1, int(math.Ceil(f.RetryAfter.Seconds())))
		writeError(w, &apiError{status: f.Status, docURL: secondaryDocs, retryAfter: retry, message: secondaryMessage})
	default:
		writeError(w, &apiError{status: f.Status, message: http.StatusText(f.Status)})
	}
	return false
}
