package github

import (
	"fmt"
	"sync"
	"time"
)

// DefaultContentCreatingPerMinute is GitHub's secondary limit on content-creating requests
// (POSTs such as JIT registrations) per credential per minute.
const DefaultContentCreatingPerMinute = 80

// pacerWindow is a little longer than GitHub's one-minute window, so that clock skew and
// latency never push a request over the limit.
const pacerWindow = 61 * time.Second

// pacer keeps one credential's content-creating requests under GitHub's secondary limit:
// at most limit in any sliding window. Corral waits its turn instead of spending a request
// on a 403 and a penalty.
type pacer struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	sent   []time.Time // oldest first, all within the window
}

func newPacer(limit int) *pacer {
	if limit <= 0 {
		limit = DefaultContentCreatingPerMinute
	}
	return &pacer{limit: limit, window: pacerWindow}
}

// take records a request at now, or, when the window is full, says how long to wait.
func (p *pacer) take(now time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := 0
	for i < len(p.sent) && !p.sent[i].After(now.Add(-p.window)) {
		i++
	}
	p.sent = p.sent[i:]
	if len(p.sent) >= p.limit {
		return p.sent[0].Add(p.window).Sub(now), false
	}
	p.sent = append(p.sent, now)
	return 0, true
}

// paced returns the rate-limit error that makes a content-creating call wait its turn, or nil
// when the call may go now.
func (c *credential) paced() *RateLimitError {
	now := c.now()
	wait, ok := c.pacer.take(now)
	if ok {
		return nil
	}
	return &RateLimitError{
		RetryAfter: wait, Reset: now.Add(wait), Secondary: true, Paced: true, Credential: c.key,
		Message: fmt.Sprintf("pacing under GitHub's secondary limit: %d content-creating requests in the last minute", c.pacer.limit),
	}
}
