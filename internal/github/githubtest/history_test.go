package githubtest_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestRegistrationsRecordEveryRunnersLife(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	auth := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	jit := func(name string) string {
		a := call(t, srv, http.MethodPost, "/orgs/acme/actions/runners/generate-jitconfig", auth,
			map[string]any{"name": name, "runner_group_id": 1, "labels": []string{"x"}})
		if a.status != http.StatusCreated {
			t.Fatalf("JIT %s: %d %s", name, a.status, a.raw)
		}
		return strconv.FormatInt(int64(a.body["runner"].(map[string]any)["id"].(float64)), 10)
	}
	jit("ran-a-job")
	deleted := jit("deleted")
	srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: "seeded"})
	jit("alive")
	if err := srv.SetOnline("ran-a-job"); err != nil {
		t.Fatal(err)
	}
	if err := srv.StartJob("ran-a-job"); err != nil {
		t.Fatal(err)
	}
	if err := srv.FinishJob("ran-a-job"); err != nil {
		t.Fatal(err)
	}
	if a := call(t, srv, http.MethodDelete, "/orgs/acme/actions/runners/"+deleted, auth, nil); a.status != http.StatusNoContent {
		t.Fatalf("delete: %d", a.status)
	}
	if err := srv.RemoveRunner("seeded"); err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, via, removedBy string }{
		{"ran-a-job", githubtest.ViaJIT, githubtest.RemovedByJob},
		{"deleted", githubtest.ViaJIT, githubtest.RemovedByAPI},
		{"seeded", githubtest.ViaAdded, githubtest.RemovedByControl},
		{"alive", githubtest.ViaJIT, ""},
	}
	regs := srv.Registrations()
	if len(regs) != len(want) {
		t.Fatalf("Registrations = %+v, want %d", regs, len(want))
	}
	for i, w := range want {
		r := regs[i]
		if r.Name != w.name || r.Via != w.via || r.RemovedBy != w.removedBy || r.RemovedAt.IsZero() != (w.removedBy == "") || r.CreatedAt.IsZero() {
			t.Errorf("registration %d = %+v, want %s via %s removed by %q", i, r, w.name, w.via, w.removedBy)
		}
	}
	if n := len(srv.IssuedJITConfigs()); n != 3 {
		t.Errorf("IssuedJITConfigs: %d, want 3", n)
	}
}
