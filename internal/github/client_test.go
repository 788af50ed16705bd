package github

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestGenerateJITConfig(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, app := e.orgClient(t)
	cfg, err := c.GenerateJITConfig(e.ctx, JITRequest{Name: "p-abc123-xxxxx", RunnerGroupID: 1, Labels: []string{"linux", "arm64"}, WorkFolder: "work"})
	if err != nil {
		t.Fatalf("GenerateJITConfig: %v", err)
	}
	id, name, err := githubtest.DecodeJITConfig(cfg.Encoded)
	if err != nil || id != cfg.RunnerID || name != "p-abc123-xxxxx" {
		t.Errorf("encoded config registers %d %q (%v), want runner %d", id, name, err, cfg.RunnerID)
	}
	r, ok := e.srv.Runner("p-abc123-xxxxx")
	if !ok || r.ID != cfg.RunnerID || !slices.Equal(r.Labels, []string{"linux", "arm64"}) || r.WorkDir != "work" || !r.Ephemeral || r.GroupID != 1 {
		t.Errorf("fake runner = %+v (%t)", r, ok)
	}
	if got := e.srv.CallCount(githubtest.EndpointOrgJIT); got != 1 {
		t.Errorf("JIT calls = %d, want 1 (one API call per runner)", got)
	}
	if got := e.srv.TokenMints(app.InstallationID); got != 1 {
		t.Errorf("token mints = %d, want 1", got)
	}
	if _, err := c.GenerateJITConfig(e.ctx, JITRequest{Name: "nolabels", RunnerGroupID: 1}); err != nil {
		t.Fatalf("JIT without labels: %v", err)
	}
	if r, _ := e.srv.Runner("nolabels"); !slices.Equal(r.Labels, []string{"self-hosted"}) {
		t.Errorf("labels sent without pool labels = %v, want [self-hosted]", r.Labels)
	}
	if _, err := c.GenerateJITConfig(e.ctx, JITRequest{Name: "x"}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("JIT without group: %v, want ErrInvalidRequest", err)
	}
}

func TestManyJITCallsMintOneToken(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, app := e.orgClient(t)
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GenerateJITConfig(e.ctx, jit(fmt.Sprintf("r%d", i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.srv.TokenMints(app.InstallationID); got != 1 {
		t.Errorf("%d concurrent JIT calls minted %d tokens, want 1", n, got)
	}
	if got := e.srv.CallCount(githubtest.EndpointOrgJIT); got != n {
		t.Errorf("JIT calls = %d, want %d", got, n)
	}
}

func TestEveryScopeOverGHESPaths(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	hs, paths := recordingServer(t, e.srv)
	e.conn = ConnOptions{CABundle: caPEM(hs)}
	app := e.addApp(t, githubtest.AppOptions{})
	pat := e.srv.AddPAT(githubtest.PATOptions{})
	cases := []struct {
		path                  string
		src                   CredentialSource
		jit, list, del, group string
		groupName             string // "Default" is known without a lookup
		groupID               int64
	}{
		{"acme/app", appSource("ns/app", app), githubtest.EndpointRepoJIT, githubtest.EndpointRepoRunners, githubtest.EndpointRepoDeleteRunner, "", "Default", 1},
		{"acme", appSource("ns/app", app), githubtest.EndpointOrgJIT, githubtest.EndpointOrgRunners, githubtest.EndpointOrgDeleteRunner, githubtest.EndpointOrgRunnerGroups,
			"ci", e.srv.AddRunnerGroup(githubtest.Org("acme"), "ci")},
		{"enterprises/big", CredentialSource{Key: "ns/pat", Data: pat.SecretData()}, githubtest.EndpointEnterpriseJIT,
			githubtest.EndpointEnterpriseRunners, githubtest.EndpointEnterpriseDeleteRunner, githubtest.EndpointEnterpriseRunnerGroups,
			"ci", e.srv.AddRunnerGroup(githubtest.Scope("enterprises/big"), "ci")},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			sc, err := ParseScope(hs.URL + "/" + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			c := e.client(t, sc, tc.src)
			group, err := c.RunnerGroupID(e.ctx, tc.groupName)
			if err != nil || group != tc.groupID {
				t.Fatalf("RunnerGroupID(%q) = %d, %v; want %d", tc.groupName, group, err, tc.groupID)
			}
			prefix := RunnerNamePrefix("pool", types.UID("uid-"+tc.path))
			name := NewRunnerName(prefix)
			cfg, err := c.GenerateJITConfig(e.ctx, JITRequest{Name: name, RunnerGroupID: group, Labels: []string{"x"}})
			if err != nil {
				t.Fatal(err)
			}
			runners, err := c.ListRunners(e.ctx, prefix)
			if err != nil || len(runners) != 1 || runners[0].ID != cfg.RunnerID || runners[0].Name != name || runners[0].Online || runners[0].Busy {
				t.Fatalf("ListRunners = %+v, %v", runners, err)
			}
			if err := c.DeleteRunner(e.ctx, cfg.RunnerID); err != nil {
				t.Fatal(err)
			}
			for _, ep := range []string{tc.jit, tc.list, tc.del, tc.group} {
				if ep != "" && e.srv.CallCount(ep) != 1 {
					t.Errorf("%s called %d times, want 1", ep, e.srv.CallCount(ep))
				}
			}
		})
	}
	for _, p := range paths() {
		if !strings.HasPrefix(p, "/api/v3/") {
			t.Errorf("GHES scope requested %s, outside /api/v3/", p)
		}
	}
}

func TestRootAPIPaths(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	hs, paths := recordingServer(t, e.srv)
	e.conn = ConnOptions{CABundle: caPEM(hs)}
	app := e.addApp(t, githubtest.AppOptions{})
	// As for github.com, whose API lives at the root of api.github.com.
	sc := Scope{Kind: ScopeOrganization, Host: "github.com", Owner: "acme", APIBase: hs.URL + "/"}
	c := e.client(t, sc, appSource("ns/app", app))
	if _, err := c.GenerateJITConfig(e.ctx, jit("r1")); err != nil {
		t.Fatal(err)
	}
	got := paths()
	want := []string{"/app/installations/" + fmt.Sprint(app.InstallationID) + "/access_tokens", "/orgs/acme/actions/runners/generate-jitconfig"}
	if !slices.Equal(got, want) {
		t.Errorf("paths = %v, want %v", got, want)
	}
}

func TestListRunnersAllPagesOnlyOwned(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, _ := e.orgClient(t)
	prefix := RunnerNamePrefix("a", "pool-a")
	other := RunnerNamePrefix("a-"+prefix[2:8]+"-xy", "pool-b") // "a-<hash>-xy-<hash2>-": shares our prefix text
	var want []string
	for i := range 130 {
		name := NewRunnerName(prefix)
		if slices.Contains(want, name) {
			continue
		}
		want = append(want, name)
		e.srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: name, Online: i%2 == 0, Ephemeral: true})
	}
	for range 110 {
		e.srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: NewRunnerName(other)})
	}
	e.srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: prefix[:len(prefix)-1]})
	e.srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: prefix + "xy-abcde"})
	e.srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("other"), Name: NewRunnerName(prefix)})
	got, err := c.ListRunners(e.ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	online := 0
	for _, r := range got {
		names = append(names, r.Name)
		if r.Online {
			online++
		}
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("ListRunners returned %d runners, want exactly the pool's %d", len(names), len(want))
	}
	if online != (len(want)+1)/2 {
		t.Errorf("online = %d", online)
	}
	// 242 runners in the org: three pages of 100.
	if calls := e.srv.CallCount(githubtest.EndpointOrgRunners); calls != 3 {
		t.Errorf("list calls = %d, want 3", calls)
	}
	if _, err := c.ListRunners(e.ctx, ""); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("empty prefix: %v", err)
	}
}

func TestRunnerLifecycle(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, _ := e.orgClient(t)
	prefix := RunnerNamePrefix("pool", "uid")
	name := NewRunnerName(prefix)
	cfg, err := c.GenerateJITConfig(e.ctx, jit(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetOnline(name); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.StartJob(name); err != nil {
		t.Fatal(err)
	}
	rs, err := c.ListRunners(e.ctx, prefix)
	if err != nil || len(rs) != 1 || !rs[0].Online || !rs[0].Busy || !slices.Contains(rs[0].Labels, "linux") {
		t.Fatalf("busy runner listed as %+v, %v", rs, err)
	}
	if err := c.DeleteRunner(e.ctx, cfg.RunnerID); !errors.Is(err, ErrRunnerBusy) {
		t.Fatalf("deleting a busy runner: %v, want ErrRunnerBusy", err)
	}
	if err := e.srv.FinishJob(name); err != nil {
		t.Fatal(err)
	}
	if rs, _ := c.ListRunners(e.ctx, prefix); len(rs) != 0 {
		t.Errorf("finished ephemeral runner still listed: %+v", rs)
	}
	if err := c.DeleteRunner(e.ctx, cfg.RunnerID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a gone runner: %v, want ErrNotFound", err)
	}
}

func TestRunnerGroupID(t *testing.T) {
	e := newEnv(t, githubtest.Options{}, FactoryOptions{})
	c, _ := e.orgClient(t)
	for i := range 150 {
		e.srv.AddRunnerGroup(githubtest.Org("acme"), fmt.Sprintf("group-%03d", i))
	}
	gpu := e.srv.AddRunnerGroup(githubtest.Org("acme"), "GPU")
	got, err := c.RunnerGroupID(e.ctx, "gpu")
	if err != nil || got != gpu {
		t.Fatalf("RunnerGroupID(gpu) = %d, %v; want %d (case-insensitive, on page 2)", got, err, gpu)
	}
	if calls := e.srv.CallCount(githubtest.EndpointOrgRunnerGroups); calls != 2 {
		t.Errorf("group list calls = %d, want 2 pages", calls)
	}
	if again, _ := c.RunnerGroupID(e.ctx, "GPU"); again != gpu || e.srv.CallCount(githubtest.EndpointOrgRunnerGroups) != 2 {
		t.Errorf("second lookup not cached (%d calls)", e.srv.CallCount(githubtest.EndpointOrgRunnerGroups))
	}
	listed := e.srv.CallCount(githubtest.EndpointOrgRunnerGroups)
	for _, name := range []string{"", "Default", "DEFAULT"} {
		if def, err := c.RunnerGroupID(e.ctx, name); err != nil || def != 1 {
			t.Errorf("RunnerGroupID(%q) = %d, %v", name, def, err)
		}
	}
	if calls := e.srv.CallCount(githubtest.EndpointOrgRunnerGroups) - listed; calls != 0 {
		t.Errorf("the Default group cost %d listings, want none (its ID is 1)", calls)
	}
	if _, err := c.RunnerGroupID(e.ctx, "missing"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing group: %v", err)
	}
	repo := e.client(t, e.scope(t, "acme/app"), appSource("ns/app2", e.addApp(t, githubtest.AppOptions{})))
	before := e.srv.TotalCalls()
	if id, err := repo.RunnerGroupID(e.ctx, "default"); err != nil || id != 1 {
		t.Errorf("repo Default = %d, %v", id, err)
	}
	if _, err := repo.RunnerGroupID(e.ctx, "gpu"); !errors.Is(err, ErrNotFound) {
		t.Errorf("repo gpu: %v", err)
	}
	if e.srv.TotalCalls() != before {
		t.Error("repository group lookups called GitHub")
	}
}
