package github

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/forge"
	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestPacerKeepsASlidingWindow(t *testing.T) {
	p := newPacer(3)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if _, ok := p.take(t0.Add(time.Duration(i) * time.Second)); !ok {
			t.Fatalf("request %d refused below the limit", i)
		}
	}
	wait, ok := p.take(t0.Add(10 * time.Second))
	if ok || wait != pacerWindow-10*time.Second {
		t.Fatalf("4th request in the window: ok=%v wait=%s, want a wait of %s", ok, wait, pacerWindow-10*time.Second)
	}
	if _, ok := p.take(t0.Add(pacerWindow)); !ok {
		t.Fatal("a request once the oldest left the window was refused")
	}
	if _, ok := p.take(t0.Add(pacerWindow)); ok {
		t.Fatal("the window holds 3 again and must refuse")
	}
}

func TestJITCallsArePacedUnderTheSecondaryLimit(t *testing.T) {
	e := newEnv(t, githubtest.Options{ContentCreatingPerMinute: 4}, FactoryOptions{ContentCreatingPerMinute: 3})
	c, a, b := twoAppClient(t, e)
	for i := range 6 {
		if _, err := c.GenerateJITConfig(e.ctx, jit(fmt.Sprintf("r%d", i))); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := c.GenerateJITConfig(e.ctx, jit("r6"))
	var rl *RateLimitError
	if !errors.As(err, &rl) || !rl.Secondary || !rl.Paced || !within(rl.RetryAfter, pacerWindow, 5*time.Second) {
		t.Fatalf("7th call with 2 credentials paced at 3/min: err = %v, want a paced secondary RateLimitError waiting ~%s", err, pacerWindow)
	}
	// The controller must tell the pacer's wait (no failure) from GitHub's own limit.
	var frl *forge.RateLimitError
	if fe := toForgeError(err, time.Now); !errors.As(fe, &frl) || !frl.Paced {
		t.Errorf("forge error %v: want a paced forge.RateLimitError", fe)
	}
	for _, app := range []githubtest.App{a, b} {
		if n := e.srv.CallCountFor(app.Credential, githubtest.EndpointOrgJIT); n != 3 {
			t.Errorf("credential %s made %d JIT calls, want 3: the paced call must not reach GitHub", app.Credential, n)
		}
	}
}

// fakeClock is a clock that only sleeps move, recording each sleep.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	frozen bool // sleeps do not move the clock (a clock that never catches up)
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if !c.frozen {
		c.t = c.t.Add(d)
	}
	return ctx.Err()
}

// TestJITCallsWaitBrieflyForAFreeSlot: a registration whose slot frees within PacedWait
// waits for it in the call, so that a burst takes the slots as they free (one reconcile
// per slot made the tail of a large burst as long as its head); a longer wait is the paced
// error at once, and no wait ever outlasts PacedWait, whatever the clock does.
func TestJITCallsWaitBrieflyForAFreeSlot(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	e := newEnv(t, githubtest.Options{}, FactoryOptions{ContentCreatingPerMinute: 3, PacedWait: 2 * time.Second, Now: clock.now, Sleep: clock.sleep})
	app := e.addApp(t, githubtest.AppOptions{})
	c := e.client(t, e.scope(t, "acme"), appSource("ns/a", app))
	register := func(name string) error { _, err := c.GenerateJITConfig(e.ctx, jit(name)); return err }
	for i := range 3 { // slots taken at 0, 0.5 and 1 s
		if err := register(fmt.Sprintf("r%d", i)); err != nil {
			t.Fatal(err)
		}
		clock.advance(500 * time.Millisecond)
	}
	clock.advance(pacerWindow - 2*time.Second) // now 0.5 s before the first slot frees
	for i := range 2 {
		if err := register(fmt.Sprintf("late%d", i)); err != nil {
			t.Fatalf("call %d with a slot freeing in 0.5 s: %v, want it to wait and succeed", i, err)
		}
	}
	if want := []time.Duration{500 * time.Millisecond, 500 * time.Millisecond}; fmt.Sprint(clock.slept) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", clock.slept, want)
	}
	if n := e.srv.CallCountFor(app.Credential, githubtest.EndpointOrgJIT); n != 5 {
		t.Errorf("%d JIT calls reached GitHub, want 5", n)
	}
	clock.slept = nil
	if err := register("r5"); err != nil { // the slot at 1 s frees in 0.5 s
		t.Fatal(err)
	}
	var rl *RateLimitError
	if err := register("r6"); !errors.As(err, &rl) || !rl.Paced || !within(rl.RetryAfter, pacerWindow-time.Second, time.Second) {
		t.Fatalf("a call whose slot frees in a minute: %v, want the paced error at once", err)
	}
	if len(clock.slept) != 1 {
		t.Errorf("waits %v: the call whose slot was a minute away must not wait at all", clock.slept)
	}

	// A clock that never moves: the waits still end, within PacedWait in all.
	clock.frozen, clock.slept = true, nil
	clock.advance(pacerWindow - 1100*time.Millisecond) // 0.1 s before the slot of late0 frees
	if err := register("r7"); !errors.As(err, &rl) || !rl.Paced {
		t.Fatalf("with a frozen clock: %v, want the paced error in the end", err)
	}
	var total time.Duration
	for _, d := range clock.slept {
		total += d
	}
	if total > 2*time.Second || len(clock.slept) == 0 {
		t.Errorf("waited %v in %d sleeps with a frozen clock: want some, at most 2 s in all", total, len(clock.slept))
	}
}
