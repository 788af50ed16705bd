package github

import (
	"errors"
	"fmt"
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
