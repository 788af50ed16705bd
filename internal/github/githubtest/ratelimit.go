package githubtest

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	primaryPeriod   = time.Hour
	secondaryPeriod = time.Minute
	// anonymousLimit is GitHub's hourly budget for unauthenticated requests.
	anonymousLimit = 60

	primaryDocs   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
	secondaryDocs = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

	secondaryMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)

// primaryBucket counts a credential's requests in the current hour.
type primaryBucket struct {
	used  int
	reset time.Time
}

type pointEvent struct {
	at     time.Time
	points int
}

// secondaryWindow holds the events of the last minute for one limit.
type secondaryWindow struct {
	events []pointEvent
}

// forcedLimit is a rate limit imposed by a test.
type forcedLimit struct {
	primaryUntil   time.Time
	secondaryUntil time.Time
}

// ExhaustPrimary spends credential's hourly budget: its requests are refused with
// x-ratelimit-remaining: 0 until resetIn has passed. An empty credential means all.
func (s *Server) ExhaustPrimary(credential string, resetIn time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.forced[credential]
	f.primaryUntil = s.nowLocked().Add(resetIn)
	s.forced[credential] = f
}

// TriggerSecondary makes credential hit a secondary rate limit: its requests are refused
// with a Retry-After header until retryAfter has passed. An empty credential means all.
func (s *Server) TriggerSecondary(credential string, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.forced[credential]
	f.secondaryUntil = s.nowLocked().Add(retryAfter)
	s.forced[credential] = f
}

// ClearRateLimits forgets every request counted and every limit imposed.
func (s *Server) ClearRateLimits() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.primary = map[string]*primaryBucket{}
	s.secondary = map[string]*secondaryWindow{}
	s.forced = map[string]forcedLimit{}
}

// rateLimit applies the primary and secondary limits to a request of p on endpoint, sets
// the x-ratelimit-* headers and returns the error to send when the request is refused.
func (s *Server) rateLimit(w http.ResponseWriter, endpoint string, p *principal) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.rateLimitLocked(w, endpoint, p)
	if e != nil {
		s.limited[p.credential]++
	}
	return e
}

// RateLimited is how many requests of each credential a primary or secondary rate limit
// refused (imposed ones included, faults not).
func (s *Server) RateLimited() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.limited))
	for cred, n := range s.limited {
		out[cred] = n
	}
	return out
}

func (s *Server) rateLimitLocked(w http.ResponseWriter, endpoint string, p *principal) *apiError {
	now := s.nowLocked()
	b := s.bucketLocked(p.credential, now)
	limit := s.opts.PrimaryLimit
	forced := s.forced[p.credential]
	if all, ok := s.forced[""]; ok {
		forced.primaryUntil = latest(forced.primaryUntil, all.primaryUntil)
		forced.secondaryUntil = latest(forced.secondaryUntil, all.secondaryUntil)
	}
	if now.Before(forced.primaryUntil) {
		setRateHeaders(w, limit, 0, limit, forced.primaryUntil)
		return s.primaryError(p)
	}
	if b.used >= limit {
		setRateHeaders(w, limit, 0, b.used, b.reset)
		return s.primaryError(p)
	}
	if now.Before(forced.secondaryUntil) {
		setRateHeaders(w, limit, limit-b.used, b.used, b.reset)
		return s.secondaryError(forced.secondaryUntil.Sub(now))
	}
	method, _, _ := strings.Cut(endpoint, " ")
	cost := 1
	if method != http.MethodGet && method != http.MethodHead {
		cost = 5
	}
	points := s.windowLocked(p.credential+" "+endpoint, now)
	creating := method == http.MethodPost && !strings.HasPrefix(endpoint, "POST /app/")
	var content *secondaryWindow
	if creating {
		content = s.windowLocked(p.credential+" content", now)
	}
	if wait, over := points.exceeds(cost, s.opts.SecondaryPoints, now); over {
		setRateHeaders(w, limit, limit-b.used, b.used, b.reset)
		return s.secondaryError(wait)
	}
	if content != nil {
		if wait, over := content.exceeds(1, s.opts.ContentCreatingPerMinute, now); over {
			setRateHeaders(w, limit, limit-b.used, b.used, b.reset)
			return s.secondaryError(wait)
		}
		content.events = append(content.events, pointEvent{at: now, points: 1})
	}
	points.events = append(points.events, pointEvent{at: now, points: cost})
	b.used++
	setRateHeaders(w, limit, limit-b.used, b.used, b.reset)
	return nil
}

// anonymousHeaders sets the rate-limit headers of an unauthenticated request.
func (s *Server) anonymousHeaders(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketLocked("anonymous", s.nowLocked())
	b.used++
	setRateHeaders(w, anonymousLimit, max(0, anonymousLimit-b.used), b.used, b.reset)
}

func (s *Server) bucketLocked(cred string, now time.Time) *primaryBucket {
	b, ok := s.primary[cred]
	if !ok || !now.Before(b.reset) {
		b = &primaryBucket{reset: now.Add(primaryPeriod)}
		s.primary[cred] = b
	}
	return b
}

func (s *Server) windowLocked(key string, now time.Time) *secondaryWindow {
	win, ok := s.secondary[key]
	if !ok {
		win = &secondaryWindow{}
		s.secondary[key] = win
	}
	kept := win.events[:0]
	for _, e := range win.events {
		if now.Sub(e.at) < secondaryPeriod {
			kept = append(kept, e)
		}
	}
	win.events = kept
	return win
}

// exceeds reports whether spending cost more would pass limit, and how long until enough
// of the window has expired.
func (win *secondaryWindow) exceeds(cost, limit int, now time.Time) (time.Duration, bool) {
	spent := 0
	for _, e := range win.events {
		spent += e.points
	}
	if spent+cost <= limit {
		return 0, false
	}
	// Wait until the oldest events have left the window and freed enough points.
	need := spent + cost - limit
	for _, e := range win.events {
		need -= e.points
		if need <= 0 {
			return e.at.Add(secondaryPeriod).Sub(now), true
		}
	}
	return secondaryPeriod, true
}

func (s *Server) primaryError(p *principal) *apiError {
	who := "user ID " + strings.TrimPrefix(p.credential, "pat/")
	if p.installation != nil {
		who = "installation ID " + strconv.FormatInt(p.installation.id, 10)
	} else if p.appID != 0 {
		who = "integration ID " + strconv.FormatInt(p.appID, 10)
	}
	return &apiError{status: s.opts.RateLimitStatus, docURL: primaryDocs,
		message: fmt.Sprintf("API rate limit exceeded for %s. If you reach out to GitHub Support for help, please include the request ID.", who)}
}

func (s *Server) secondaryError(wait time.Duration) *apiError {
	return &apiError{status: s.opts.RateLimitStatus, docURL: secondaryDocs, retryAfter: max(1, int(math.Ceil(wait.Seconds()))),
		message: secondaryMessage}
}

func setRateHeaders(w http.ResponseWriter, limit, remaining, used int, reset time.Time) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, remaining)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
