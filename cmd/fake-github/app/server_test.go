package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// receiver is Corral's webhook endpoint as the fake sees it: it checks every signature.
type receiver struct {
	mu      sync.Mutex
	actions []string
	bad     int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Header.Get("X-Hub-Signature-256") != githubtest.SignPayload("s3cret", body) || r.Header.Get("X-GitHub-Event") != "workflow_job" {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p struct {
		Action string `json:"action"`
	}
	_ = yaml.Unmarshal(body, &p)
	rc.actions = append(rc.actions, p.Action)
	w.WriteHeader(http.StatusAccepted)
}

func (rc *receiver) got() ([]string, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.actions...), rc.bad
}

// startServer runs a fake GitHub until the test ends and returns its Info and a client;
// mods change its Config.
func startServer(t *testing.T, webhookURL string, mods ...func(*Config)) (Info, *Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	cfg := Config{Dir: dir, WebhookSecret: "s3cret", JobDuration: 10 * time.Millisecond, DispatchInterval: 10 * time.Millisecond}
	if webhookURL != "" {
		cfg.WebhookURLs = []string{webhookURL}
	}
	for _, m := range mods {
		m(&cfg)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, quiet()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := ReadInfo(dir)
		if err == nil {
			return info, NewClient(info.ControlURL)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake never wrote info.json: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerPlaysAJobAndSignsItsDeliveries(t *testing.T) {
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	info, c := startServer(t, hook.URL)
	ctx := context.Background()

	if !strings.HasPrefix(info.PoolURL, "https://127.0.0.1:") || !strings.HasSuffix(info.PoolURL, "/acme") {
		t.Errorf("pool URL = %q, want https://127.0.0.1:PORT/acme", info.PoolURL)
	}
	resp, err := c.Queue(ctx, QueueRequest{Labels: []string{"self-hosted", "linux", "e2e"}})
	if err != nil || resp.Delivered != 1 || resp.Failed != 0 {
		t.Fatalf("Queue = %+v, %v; want one delivery acknowledged", resp, err)
	}
	if _, err := c.Register(ctx, githubtest.RunnerSpec{Name: "pool-abc123-xyz12", Labels: []string{"e2e"}, Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.RunnerAction(ctx, "pool-abc123-xyz12", ActionOnline); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, err := c.Jobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 && jobs[0].State == JobCompleted {
			if jobs[0].Runner != "pool-abc123-xyz12" || jobs[0].Conclusion != "success" {
				t.Errorf("job = %+v, want success on the runner", jobs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never completed: %+v", jobs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The job's state changes before its completed delivery goes out and is logged.
	var log []githubtest.Delivery
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if log, err = c.Deliveries(ctx); err != nil || len(log) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(log) != 3 || log[0].StatusCode != http.StatusAccepted {
		t.Errorf("Deliveries = %+v, %v; want three answered 202", log, err)
	}
	actions, bad := rc.got()
	if strings.Join(actions, ",") != "queued,in_progress,completed" || bad != 0 {
		t.Errorf("receiver got %q (%d badly signed), want queued,in_progress,completed all signed", actions, bad)
	}
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs = %+v, %v", jobs, err)
	}
	if one, err := c.Job(ctx, jobs[0].ID); err != nil || one.ID != jobs[0].ID || one.State != JobCompleted {
		t.Errorf("Job(%d) = %+v, %v", jobs[0].ID, one, err)
	}
	if _, err := c.Job(ctx, 1); err == nil {
		t.Error("Job(1): no error for a job that does not exist")
	}
	sent := jobs[0].Delivered
	if q, p, c := sent["queued"], sent["in_progress"], sent["completed"]; q.IsZero() || p.Before(q) || c.Before(p) {
		t.Errorf("delivery times %v: want queued <= in_progress <= completed, all set", sent)
	}
	runners, err := c.Runners(ctx)
	if err != nil || len(runners) != 0 {
		t.Errorf("Runners = %+v, %v; want none: GitHub removes an ephemeral runner after its job", runners, err)
	}
	calls, err := c.Calls(ctx)
	if err != nil || calls["total"] != 0 {
		t.Errorf("Calls = %v, %v; want no API call (nobody used the REST API)", calls, err)
	}
}

func TestServerWritesManifestsForCorral(t *testing.T) {
	info, _ := startServer(t, "")
	docs := readYAMLDocs(t, info.CredentialsManifest)
	var secret corev1.Secret
	var cm corev1.ConfigMap
	mustUnmarshal(t, docs[0], &secret)
	mustUnmarshal(t, docs[1], &cm)
	if secret.Name != "github-app" || string(secret.Data["app-id"]) == "" || string(secret.Data["installation-id"]) == "" ||
		!strings.Contains(string(secret.Data["private-key"]), "PRIVATE KEY") {
		t.Errorf("credentials Secret %s has keys %v, want app-id, installation-id, private-key", secret.Name, keys(secret.Data))
	}
	ca, err := os.ReadFile(info.CAFile)
	if err != nil || cm.Name != "github-ca" || cm.Data[CABundleKey] != string(ca) {
		t.Errorf("CA ConfigMap %s does not hold ca.crt (%v)", cm.Name, err)
	}
	var hook corev1.Secret
	mustUnmarshal(t, readYAMLDocs(t, info.WebhookSecretManifest)[0], &hook)
	if hook.Name != "corral-webhook" || hook.StringData["webhook-secret"] != "s3cret" {
		t.Errorf("webhook Secret %s does not hold the secret in webhook-secret", hook.Name)
	}
	if st, err := os.Stat(info.CredentialsManifest); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials manifest mode = %v (%v), want 0600: it holds a private key", st.Mode().Perm(), err)
	}
	env, err := os.ReadFile(filepath.Join(info.Dir, EnvFile))
	if err != nil || !strings.Contains(string(env), "FAKE_GITHUB_POOL_URL="+info.PoolURL+"\n") {
		t.Errorf("env file = %q (%v), want FAKE_GITHUB_POOL_URL", env, err)
	}
}

func TestServerInstallsSeveralApps(t *testing.T) {
	info, c := startServer(t, "", func(cfg *Config) { cfg.Apps = 3 })
	if len(info.Apps) != 3 || info.Apps[0].AppID != info.AppID || info.Apps[0].InstallationID != info.InstallationID {
		t.Fatalf("Apps = %+v, want 3, the first one the fake's App %d", info.Apps, info.AppID)
	}
	if got := strings.Join(info.SecretNames(5), ","); got != "github-app,github-app-2,github-app-3" {
		t.Errorf("SecretNames = %s", got)
	}
	docs := readYAMLDocs(t, info.CredentialsManifest)
	if len(docs) != 4 {
		t.Fatalf("credentials manifest has %d documents, want 3 Secrets and the CA ConfigMap", len(docs))
	}
	seen := map[string]bool{}
	for i, a := range info.Apps {
		var secret corev1.Secret
		mustUnmarshal(t, docs[i], &secret)
		id := string(secret.Data["installation-id"])
		if secret.Name != a.SecretName || id != strconv.FormatInt(a.InstallationID, 10) || seen[id] ||
			a.Credential != githubtest.InstallationCredential(a.InstallationID) {
			t.Errorf("Secret %d: %s with installation %s, want %s with a distinct installation %d", i, secret.Name, id, a.SecretName, a.InstallationID)
		}
		seen[id] = true
	}
	st, err := c.Stats(testContext(t))
	if err != nil || len(st.TokenMints) != 3 {
		t.Errorf("Stats.TokenMints = %v, %v; want one count per installation", st.TokenMints, err)
	}
}

func testContext(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestControlAPIErrors(t *testing.T) {
	_, c := startServer(t, "")
	ctx := context.Background()
	for name, err := range map[string]error{
		"unknown action":     c.RunnerAction(ctx, "r", "dance"),
		"unknown runner":     c.RunnerAction(ctx, "nobody", ActionOnline),
		"exit without agent": c.Exit(ctx, "r", 0),
		"bad fault":          c.InjectFault(ctx, FaultRequest{Latency: "slow"}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := c.Queue(ctx, QueueRequest{Count: 1}); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("Queue without labels = %v, want an error about labels", err)
	}
	if err := errors.Join(c.InjectFault(ctx, FaultRequest{Endpoint: githubtest.EndpointOrgJIT, Status: 503}), c.ClearFaults(ctx)); err != nil {
		t.Errorf("faults: %v", err)
	}
}

func readYAMLDocs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, d := range regexp.MustCompile(`(?m)^---$`).Split(string(b), -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func mustUnmarshal(t *testing.T, doc string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(doc), v); err != nil {
		t.Fatalf("decoding %q: %v", doc, err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
