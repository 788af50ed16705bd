package controller

import (
	"testing"
	"time"

	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

func TestAdmissions(t *testing.T) {
	t0 := time.Now()
	pool := gen.RunnerPool("p")
	hash := podHash(runner.BuildPod(pool, "p-dryrun", "p-dryrun-jit"))
	if again := podHash(runner.BuildPod(pool, "p-dryrun", "p-dryrun-jit")); again != hash {
		t.Fatalf("the same pool's dry-run pod hashes differently: %s, %s", hash, again)
	}
	changed := gen.RunnerPool("p", gen.WithLabels("gpu"))
	other := podHash(runner.BuildPod(changed, "p-dryrun", "p-dryrun-jit"))
	if other == hash {
		t.Fatal("a changed template hashes the same")
	}
	for _, tc := range []struct {
		name  string
		setup func(a *admissions)
		hash  string
		at    time.Time
		want  bool
	}{
		{"never admitted", func(*admissions) {}, hash, t0, false},
		{"admitted just now", func(a *admissions) { a.record(pool.UID, hash, t0) }, hash, t0, true},
		{"admitted 4m59s ago", func(a *admissions) { a.record(pool.UID, hash, t0) }, hash, t0.Add(admissionTTL - time.Second), true},
		{"expired", func(a *admissions) { a.record(pool.UID, hash, t0) }, hash, t0.Add(admissionTTL), false},
		{"clock went back", func(a *admissions) { a.record(pool.UID, hash, t0) }, hash, t0.Add(-time.Second), false},
		{"template changed", func(a *admissions) { a.record(pool.UID, hash, t0) }, other, t0, false},
		{"refused since", func(a *admissions) { a.record(pool.UID, hash, t0); a.forget(pool.UID) }, hash, t0, false},
		{"another pool admitted", func(a *admissions) { a.record("other", hash, t0) }, hash, t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a admissions
			tc.setup(&a)
			if got := a.fresh(pool.UID, tc.hash, tc.at); got != tc.want {
				t.Errorf("fresh = %v, want %v", got, tc.want)
			}
		})
	}
}
