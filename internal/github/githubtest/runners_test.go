package githubtest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestGenerateJITConfigValidation(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	p := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	gpu := srv.AddRunnerGroup(githubtest.Org("acme"), "gpu")
	path := "/orgs/acme/actions/runners/generate-jitconfig"
	cases := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"ok", map[string]any{"name": "r1", "runner_group_id": 1, "labels": []string{"linux"}, "work_folder": "_work"}, 201, ""},
		{"custom group", map[string]any{"name": "r2", "runner_group_id": gpu, "labels": []string{"gpu"}}, 201, ""},
		{"duplicate name", map[string]any{"name": "r1", "runner_group_id": 1, "labels": []string{"linux"}}, 409, "Already exists"},
		{"missing runner_group_id", map[string]any{"name": "r3", "labels": []string{"linux"}}, 422, "runner_group_id"},
		{"missing labels", map[string]any{"name": "r3", "runner_group_id": 1}, 422, "labels"},
		{"null labels", map[string]any{"name": "r3", "runner_group_id": 1, "labels": nil}, 422, "labels"},
		{"empty labels", map[string]any{"name": "r3", "runner_group_id": 1, "labels": []string{}}, 422, "labels"},
		{"blank label", map[string]any{"name": "r3", "runner_group_id": 1, "labels": []string{" "}}, 422, "label"},
		{"missing name", map[string]any{"runner_group_id": 1, "labels": []string{"x"}}, 422, "name"},
		{"unknown group", map[string]any{"name": "r3", "runner_group_id": 777, "labels": []string{"x"}}, 404, "Not Found"},
		{"not JSON", "{", 400, "Problems parsing JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, srv, http.MethodPost, path, p, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.raw)
			}
			if tc.msg != "" && !strings.Contains(a.body["message"].(string), tc.msg) {
				t.Errorf("message %q lacks %q", a.body["message"], tc.msg)
			}
			if tc.status != 201 {
				return
			}
			runner := a.body["runner"].(map[string]any)
			id, name := int64(runner["id"].(float64)), runner["name"].(string)
			if runner["status"] != "offline" || runner["busy"] != false || runner["ephemeral"] != true {
				t.Errorf("new runner = %v", runner)
			}
			gotID, gotName, err := githubtest.DecodeJITConfig(a.body["encoded_jit_config"].(string))
			if err != nil || gotID != id || gotName != name {
				t.Errorf("DecodeJITConfig = %d %q %v, want %d %q", gotID, gotName, err, id, name)
			}
		})
	}
	if got := srv.CallCount(githubtest.EndpointOrgJIT); got != len(cases) {
		t.Errorf("CallCount = %d, want %d", got, len(cases))
	}
	r, ok := srv.Runner("r2")
	if !ok || r.GroupID != gpu || r.Scope != githubtest.Org("acme") || len(r.Labels) != 1 || r.Labels[0] != "gpu" {
		t.Errorf("Runner(r2) = %+v, %t", r, ok)
	}
	repoGroup := call(t, srv, http.MethodPost, "/repos/acme/app/actions/runners/generate-jitconfig", p,
		map[string]any{"name": "r9", "runner_group_id": gpu, "labels": []string{"x"}})
	if repoGroup.status != 404 {
		t.Errorf("repository JIT with a non-default group: %d, want 404", repoGroup.status)
	}
}

func TestListRunnersPaginationAndFilter(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	p := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	for i := range 45 {
		srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("acme"), Name: fmt.Sprintf("r-%02d", i), Labels: []string{"a"}})
	}
	srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Org("other"), Name: "elsewhere"})
	a := call(t, srv, http.MethodGet, "/api/v3/orgs/acme/actions/runners?per_page=20&page=2", p, nil)
	if a.status != 200 || a.body["total_count"] != float64(45) || len(a.body["runners"].([]any)) != 20 {
		t.Fatalf("page 2: %d total=%v n=%d", a.status, a.body["total_count"], len(a.body["runners"].([]any)))
	}
	links := a.header.Get("Link")
	for _, want := range []string{`page=3&per_page=20>; rel="next"`, `page=3&per_page=20>; rel="last"`, `page=1&per_page=20>; rel="first"`, `page=1&per_page=20>; rel="prev"`} {
		if !strings.Contains(links, want) {
			t.Errorf("Link %q lacks %q", links, want)
		}
	}
	if !strings.Contains(links, "<"+srv.URL()+"/api/v3/orgs/acme/actions/runners?") {
		t.Errorf("Link %q is not absolute under /api/v3", links)
	}
	last := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners?per_page=20&page=3", p, nil)
	if n := len(last.body["runners"].([]any)); n != 5 || strings.Contains(last.header.Get("Link"), `rel="next"`) {
		t.Errorf("last page: %d runners, Link %q", n, last.header.Get("Link"))
	}
	capped := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners?per_page=500", p, nil)
	if n := len(capped.body["runners"].([]any)); n != 45 {
		t.Errorf("per_page=500 gave %d runners, want all 45 (max 100)", n)
	}
	def := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", p, nil)
	if n := len(def.body["runners"].([]any)); n != 30 {
		t.Errorf("default page size %d, want 30", n)
	}
	named := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners?name="+url.QueryEscape("r-07"), p, nil)
	rs := named.body["runners"].([]any)
	if named.body["total_count"] != float64(1) || len(rs) != 1 || rs[0].(map[string]any)["name"] != "r-07" {
		t.Errorf("name filter: %s", named.raw)
	}
	labels := rs[0].(map[string]any)["labels"].([]any)
	if len(labels) != 2 || labels[0].(map[string]any)["name"] != "self-hosted" || labels[1].(map[string]any)["type"] != "custom" {
		t.Errorf("labels = %v", labels)
	}
}

func TestRunnerLifecycleAndDelete(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	p := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	a := call(t, srv, http.MethodPost, "/repos/acme/app/actions/runners/generate-jitconfig", p,
		map[string]any{"name": "r1", "runner_group_id": 1, "labels": []string{"x"}})
	id := strconv.FormatInt(int64(a.body["runner"].(map[string]any)["id"].(float64)), 10)
	if err := srv.StartJob("r1"); err == nil {
		t.Error("StartJob on an offline runner succeeded")
	}
	if err := srv.SetOnline("r1"); err != nil {
		t.Fatal(err)
	}
	if err := srv.StartJob("r1"); err != nil {
		t.Fatal(err)
	}
	got := call(t, srv, http.MethodGet, "/repos/acme/app/actions/runners/"+id, p, nil)
	if got.body["status"] != "online" || got.body["busy"] != true {
		t.Errorf("busy runner = %s", got.raw)
	}
	del := call(t, srv, http.MethodDelete, "/repos/acme/app/actions/runners/"+id, p, nil)
	if del.status != 422 || !strings.Contains(del.body["message"].(string), "still running a job") {
		t.Errorf("delete busy: %d %s", del.status, del.raw)
	}
	if err := srv.FinishJob("r1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Runner("r1"); ok {
		t.Error("ephemeral runner still registered after its job")
	}
	if del := call(t, srv, http.MethodDelete, "/repos/acme/app/actions/runners/"+id, p, nil); del.status != 404 {
		t.Errorf("delete gone: %d", del.status)
	}
	kept := srv.AddRunner(githubtest.RunnerSpec{Scope: githubtest.Repo("acme", "app"), Name: "persistent", Online: true, Busy: true,
		CreatedAt: time.Unix(1000, 0)})
	if err := srv.FinishJob("persistent"); err != nil {
		t.Fatal(err)
	}
	r, ok := srv.Runner("persistent")
	if !ok || r.Busy || !r.CreatedAt.Equal(time.Unix(1000, 0)) {
		t.Errorf("non-ephemeral runner after its job: %+v %t", r, ok)
	}
	if del := call(t, srv, http.MethodDelete, "/repos/acme/app/actions/runners/"+strconv.FormatInt(kept.ID, 10), p, nil); del.status != 204 {
		t.Errorf("delete idle: %d", del.status)
	}
	if len(srv.Runners()) != 0 {
		t.Errorf("Runners() = %v, want none", srv.Runners())
	}
}

func TestRunnerGroupsList(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	p := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	id := srv.AddRunnerGroup(githubtest.Enterprise("big"), "arm")
	a := call(t, srv, http.MethodGet, "/enterprises/big/actions/runner-groups", p, nil)
	groups := a.body["runner_groups"].([]any)
	if a.body["total_count"] != float64(2) || groups[0].(map[string]any)["name"] != "Default" || groups[0].(map[string]any)["default"] != true ||
		groups[1].(map[string]any)["id"] != float64(id) {
		t.Errorf("groups = %s", a.raw)
	}
}

func TestPermissionsAndOwners(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	readOnly := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t), Installation: githubtest.InstallationOptions{
		Owner: "acme", Permissions: map[string]string{githubtest.PermissionOrgRunners: "read"}}})
	tok := mint(t, srv, readOnly)
	if a := call(t, srv, http.MethodGet, "/orgs/ACME/actions/runners", tok, nil); a.status != 200 {
		t.Errorf("read with read permission: %d", a.status)
	}
	a := call(t, srv, http.MethodPost, "/orgs/acme/actions/runners/generate-jitconfig", tok, map[string]any{"name": "x", "runner_group_id": 1, "labels": []string{"x"}})
	if a.status != 403 || a.header.Get("X-Accepted-GitHub-Permissions") != "organization_self_hosted_runners=write" {
		t.Errorf("write with read permission: %d %q", a.status, a.header.Get("X-Accepted-GitHub-Permissions"))
	}
	if a := call(t, srv, http.MethodGet, "/repos/acme/app/actions/runners", tok, nil); a.status != 403 ||
		a.header.Get("X-Accepted-GitHub-Permissions") != "administration=read" {
		t.Errorf("repository without administration: %d %q", a.status, a.header.Get("X-Accepted-GitHub-Permissions"))
	}
	if a := call(t, srv, http.MethodGet, "/orgs/other/actions/runners", tok, nil); a.status != 404 {
		t.Errorf("another owner: %d, want 404", a.status)
	}
	if a := call(t, srv, http.MethodGet, "/enterprises/acme/actions/runners", tok, nil); a.status != 403 {
		t.Errorf("enterprise with an installation token: %d, want 403", a.status)
	}
	pat := srv.AddPAT(githubtest.PATOptions{})
	if a := call(t, srv, http.MethodGet, "/enterprises/acme/actions/runners", "Bearer "+pat.Token, nil); a.status != 200 {
		t.Errorf("enterprise with a PAT: %d", a.status)
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	srv := newServer(t, githubtest.Options{PrimaryLimit: 2})
	p := srv.AddPAT(githubtest.PATOptions{})
	auth := "Bearer " + p.Token
	first := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil)
	h := first.header
	if h.Get("X-RateLimit-Limit") != "2" || h.Get("X-RateLimit-Remaining") != "1" || h.Get("X-RateLimit-Used") != "1" || h.Get("X-RateLimit-Resource") != "core" {
		t.Errorf("headers after one request: %v", h)
	}
	reset, _ := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if d := time.Until(time.Unix(reset, 0)); d < 59*time.Minute || d > time.Hour+time.Second {
		t.Errorf("reset in %s, want about an hour", d)
	}
	call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil)
	a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil)
	if a.status != 403 || a.header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(a.body["message"].(string), "API rate limit exceeded") {
		t.Errorf("third request: %d %v %s", a.status, a.header, a.raw)
	}
	srv.Advance(time.Hour)
	if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil); a.status != 200 {
		t.Errorf("after the reset: %d", a.status)
	}
	srv.ExhaustPrimary(p.Credential, 10*time.Minute)
	if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil); a.status != 403 || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("forced: %d", a.status)
	}
}

func TestSecondaryRateLimits(t *testing.T) {
	srv := newServer(t, githubtest.Options{SecondaryPoints: 12, ContentCreatingPerMinute: 3, RateLimitStatus: 429})
	p := srv.AddPAT(githubtest.PATOptions{})
	auth := "Bearer " + p.Token
	jit := func(name string) answer {
		return call(t, srv, http.MethodPost, "/orgs/acme/actions/runners/generate-jitconfig", auth,
			map[string]any{"name": name, "runner_group_id": 1, "labels": []string{"x"}})
	}
	// POST costs 5 points: the third POST (15 points) passes the 12-point budget.
	if jit("a").status != 201 || jit("b").status != 201 {
		t.Fatal("first POSTs refused")
	}
	a := jit("c")
	if a.status != 429 || a.header.Get("Retry-After") == "" || !strings.HasSuffix(a.body["documentation_url"].(string), "secondary-rate-limits") {
		t.Errorf("third POST: %d retry-after %q %s", a.status, a.header.Get("Retry-After"), a.raw)
	}
	// GETs cost 1 point on their own endpoint.
	for i := range 12 {
		if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil); a.status != 200 {
			t.Fatalf("GET %d: %d", i, a.status)
		}
	}
	if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil); a.status != 429 {
		t.Errorf("13th GET: %d, want 429", a.status)
	}
	srv.Advance(time.Minute)
	if jit("d").status != 201 {
		t.Error("POST after the window refused")
	}
	srv.ClearRateLimits()
	// 80-per-minute content creation, here 3, across endpoints.
	if jit("e").status != 201 || jit("f").status != 201 {
		t.Fatal("POSTs refused after clearing")
	}
	srv.TriggerSecondary("", 30*time.Second)
	a = call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil)
	if a.status != 429 || a.header.Get("Retry-After") != "30" {
		t.Errorf("forced secondary: %d retry-after %q", a.status, a.header.Get("Retry-After"))
	}
}

func TestContentCreatingLimit(t *testing.T) {
	srv := newServer(t, githubtest.Options{ContentCreatingPerMinute: 2})
	auth := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	for i, want := range []int{201, 201, 403} {
		scope := fmt.Sprintf("/orgs/org%d/actions/runners/generate-jitconfig", i) // a different endpoint each time
		a := call(t, srv, http.MethodPost, scope, auth, map[string]any{"name": "x", "runner_group_id": 1, "labels": []string{"x"}})
		if a.status != want {
			t.Errorf("POST %d: %d, want %d", i, a.status, want)
		}
	}
}

func TestRateLimitsArePerCredential(t *testing.T) {
	srv := newServer(t, githubtest.Options{ContentCreatingPerMinute: 1})
	first, second := srv.AddPAT(githubtest.PATOptions{}), srv.AddPAT(githubtest.PATOptions{})
	jit := func(p githubtest.PAT, name string) int {
		return call(t, srv, http.MethodPost, "/orgs/acme/actions/runners/generate-jitconfig", "Bearer "+p.Token,
			map[string]any{"name": name, "runner_group_id": 1, "labels": []string{"x"}}).status
	}
	got := []int{jit(first, "a"), jit(first, "b"), jit(second, "c"), jit(first, "d")}
	if want := []int{201, 403, 201, 403}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v: each credential has its own window", got, want)
	}
	if limited := srv.RateLimited(); limited[first.Credential] != 2 || limited[second.Credential] != 0 {
		t.Errorf("RateLimited = %v, want 2 refusals of %s and none of %s", limited, first.Credential, second.Credential)
	}
	srv.ResetCounts()
	if limited := srv.RateLimited(); len(limited) != 0 {
		t.Errorf("RateLimited after ResetCounts = %v, want empty", limited)
	}
}

func TestFaults(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	p := srv.AddPAT(githubtest.PATOptions{})
	auth := "Bearer " + p.Token
	srv.InjectFault(githubtest.Fault{Endpoint: githubtest.EndpointOrgRunners, Status: 502, Times: 2})
	for i, want := range []int{502, 502, 200} {
		if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil); a.status != want {
			t.Errorf("request %d: %d, want %d", i, a.status, want)
		}
	}
	remove := srv.InjectFault(githubtest.Fault{Credential: p.Credential, Latency: 200 * time.Millisecond})
	start := time.Now()
	call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("latency fault took %s", d)
	}
	remove()
	srv.InjectFault(githubtest.Fault{Hang: true})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, srv)}, Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/orgs/acme/actions/runners", nil)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Error("hanging request answered")
	}
	srv.ClearFaults()
	if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil); a.status != 200 {
		t.Errorf("after ClearFaults: %d", a.status)
	}
	if srv.TotalCalls() != 6 {
		t.Errorf("TotalCalls = %d, want 6", srv.TotalCalls())
	}
	srv.ResetCounts()
	if srv.TotalCalls() != 0 {
		t.Error("ResetCounts kept calls")
	}
}
