package github

import (
	"context"
	"errors"
	"time"
)

// call is callOnce, waiting in between while every credential is only paced and the next
// slot frees within what is left of maxWait: the waits, not the clock, are counted, so the
// call ends however the clock moves.
func (c *Client) call(ctx context.Context, rotate bool, op operation, fn apiCall) error {
	left := c.maxWait
	for {
		err := c.callOnce(ctx, rotate, op, fn)
		var rl *RateLimitError
		if !errors.As(err, &rl) || !rl.Paced {
			return err
		}
		wait := max(rl.Reset.Sub(c.now()), time.Millisecond)
		if wait > left {
			return err
		}
		left -= wait
		if c.sleep(ctx, wait) != nil {
			return err // not asked: the caller's context ended while waiting for a slot
		}
	}
}

// callOnce runs fn with the pool's credentials in turn until one is not rate limited. With
// rotate (JIT registrations) the starting credential advances on every call, spreading the
// load; otherwise the main credential is tried first. A credential GitHub rate limits is
// skipped until its reset; when every credential is limited, the error is the
// *RateLimitError that lifts first.
func (c *Client) callOnce(ctx context.Context, rotate bool, op operation, fn apiCall) error {
	n := len(c.creds)
	if n == 0 {
		return errors.New("no credential to call GitHub with")
	}
	start := 0
	if rotate {
		start = int((c.next.Add(1) - 1) % uint64(n))
	}
	var soonest *RateLimitError
	for i := range n {
		cred := c.creds[(start+i)%n]
		if rl := cred.limited(); rl != nil {
			soonest = earlier(soonest, rl)
			continue
		}
		err := cred.call(ctx, c.scope, op, fn)
		var rl *RateLimitError
		if !errors.As(err, &rl) {
			return err
		}
		cred.markLimited(ctx, rl)
		soonest = earlier(soonest, rl)
	}
	return soonest
}

func earlier(a, b *RateLimitError) *RateLimitError {
	if a == nil || b.Reset.Before(a.Reset) {
		return b
	}
	return a
}
