package githubtest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestSignPayloadMatchesGitHubTestVector(t *testing.T) {
	// https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
	got := githubtest.SignPayload("It's a Secret to Everybody", []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Errorf("SignPayload = %s, want %s", got, want)
	}
}

// hookSink records webhook requests.
type hookSink struct {
	mu      sync.Mutex
	status  int
	headers []http.Header
	bodies  []string
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.headers = append(h.headers, r.Header.Clone())
	h.bodies = append(h.bodies, string(b))
	w.WriteHeader(h.status)
	_, _ = w.Write([]byte("thanks"))
}

func appJWT(t *testing.T, app githubtest.App) string {
	now := time.Now()
	return "Bearer " + signJWT(t, app.PrivateKeyPEM, jwt.MapClaims{
		"iss": strconv.FormatInt(app.ID, 10), "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}, jwt.SigningMethodRS256)
}

func TestDeliverAppEventSignsAndRecords(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	sink := &hookSink{status: http.StatusAccepted}
	hs := httptest.NewServer(sink)
	t.Cleanup(hs.Close)
	payload := []byte(`{"action":"queued","installation":{"id":5},"repository":{"id":9}}`)

	srv.SetAppWebhook(app.ID, githubtest.AppWebhook{URL: hs.URL, Secret: "top"})
	jsonDelivery := srv.DeliverAppEvent(context.Background(), app.ID, "workflow_job", payload)
	srv.SetAppWebhook(app.ID, githubtest.AppWebhook{URL: hs.URL, Secret: "top", Form: true})
	formDelivery := srv.DeliverAppEvent(context.Background(), app.ID, "workflow_job", payload)

	sink.mu.Lock()
	if len(sink.bodies) != 2 {
		t.Fatalf("sink got %d deliveries, want 2", len(sink.bodies))
	}
	h := sink.headers[0]
	if h.Get("Content-Type") != "application/json" || sink.bodies[0] != string(payload) ||
		h.Get("X-Hub-Signature-256") != githubtest.SignPayload("top", payload) ||
		h.Get("X-GitHub-Event") != "workflow_job" || h.Get("X-GitHub-Delivery") != jsonDelivery.GUID ||
		!strings.HasPrefix(h.Get("X-Hub-Signature"), "sha1=") {
		t.Errorf("JSON delivery headers %v body %s", h, sink.bodies[0])
	}
	h = sink.headers[1]
	form, err := url.ParseQuery(sink.bodies[1])
	if err != nil || form.Get("payload") != string(payload) || h.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		h.Get("X-Hub-Signature-256") != githubtest.SignPayload("top", []byte(sink.bodies[1])) {
		t.Errorf("form delivery headers %v body %s (signature must cover the form body)", h, sink.bodies[1])
	}
	sink.mu.Unlock()
	if jsonDelivery.GUID == formDelivery.GUID || !jsonDelivery.Succeeded() || jsonDelivery.Response != "thanks" {
		t.Errorf("deliveries %+v %+v", jsonDelivery, formDelivery)
	}
	if jsonDelivery.Action != "queued" || jsonDelivery.InstallationID != 5 || jsonDelivery.RepositoryID != 9 {
		t.Errorf("delivery metadata %+v not read from the payload", jsonDelivery)
	}

	// No webhook, or a receiver that is down: the attempt fails to connect (status 0).
	hs.Close()
	down := srv.DeliverAppEvent(context.Background(), app.ID, "workflow_job", payload)
	other := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	none := srv.DeliverAppEvent(context.Background(), other.ID, "ping", []byte(`{}`))
	if down.StatusCode != 0 || down.Succeeded() || none.StatusCode != 0 {
		t.Errorf("failed attempts: %d, %d; want 0", down.StatusCode, none.StatusCode)
	}
	if got := len(srv.Deliveries(app.ID)); got != 3 {
		t.Errorf("App log holds %d attempts, want 3", got)
	}
}

func TestDeliveriesSpreadOverSeveralReceivers(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	a, b := &hookSink{status: http.StatusAccepted}, &hookSink{status: http.StatusAccepted}
	ha, hb := httptest.NewServer(a), httptest.NewServer(b)
	t.Cleanup(ha.Close)
	t.Cleanup(hb.Close)
	srv.SetAppWebhook(app.ID, githubtest.AppWebhook{URL: ha.URL, URLs: []string{hb.URL}, Secret: "top"})
	urls := map[string]int{}
	for range 40 {
		d := srv.DeliverAppEvent(context.Background(), app.ID, "workflow_job", []byte(`{"action":"queued"}`))
		if !d.Succeeded() {
			t.Fatalf("delivery %+v failed", d)
		}
		urls[d.URL]++
	}
	if urls[ha.URL] == 0 || urls[hb.URL] == 0 || urls[ha.URL]+urls[hb.URL] != 40 {
		t.Errorf("deliveries by receiver %v, want both used", urls)
	}
}

func TestDeliveryLogEndpoints(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	other := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	ok := srv.RecordDelivery(app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 202, Payload: []byte(`{"action":"completed"}`)})
	failed := srv.RecordDelivery(app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 0, Payload: []byte(`{"action":"queued"}`)})
	foreign := srv.RecordDelivery(other.ID, githubtest.Delivery{Event: "ping", StatusCode: 200})

	if a := call(t, srv, http.MethodGet, "/app/hook/deliveries", "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("anonymous list: %d, want 401", a.status)
	}
	if a := call(t, srv, http.MethodGet, "/app/hook/deliveries", mint(t, srv, app), nil); a.status != http.StatusUnauthorized {
		t.Errorf("installation token list: %d, want 401", a.status)
	}

	auth := appJWT(t, app)
	a := call(t, srv, http.MethodGet, "/api/v3/app/hook/deliveries?per_page=1", auth, nil)
	if a.status != http.StatusOK || !strings.Contains(a.header.Get("Link"), `rel="next"`) || !strings.Contains(a.header.Get("Link"), "cursor=") {
		t.Fatalf("first page: %d Link %q", a.status, a.header.Get("Link"))
	}
	if !strings.Contains(string(a.raw), `"status":"failed to connect to host"`) || !strings.Contains(string(a.raw), `"guid":"`+failed.GUID+`"`) {
		t.Errorf("newest first, with GitHub's fields: %s", a.raw)
	}
	next, _ := url.Parse(strings.Trim(strings.Split(a.header.Get("Link"), ";")[0], "<>"))
	b := call(t, srv, http.MethodGet, next.RequestURI(), auth, nil)
	if !strings.Contains(string(b.raw), `"id":`+strconv.FormatInt(ok.ID, 10)) || strings.Contains(b.header.Get("Link"), "next") {
		t.Errorf("second page: %s Link %q", b.raw, b.header.Get("Link"))
	}

	d := call(t, srv, http.MethodGet, "/app/hook/deliveries/"+strconv.FormatInt(failed.ID, 10), auth, nil)
	if d.status != http.StatusOK || d.body["request"].(map[string]any)["payload"].(map[string]any)["action"] != "queued" {
		t.Errorf("detail: %d %s", d.status, d.raw)
	}
	if got := srv.Deliveries(app.ID)[1]; got.Fetched != 1 {
		t.Errorf("the failed attempt was read %d times, want 1", got.Fetched)
	}
	if f := call(t, srv, http.MethodGet, "/app/hook/deliveries/"+strconv.FormatInt(foreign.ID, 10), auth, nil); f.status != http.StatusNotFound {
		t.Errorf("another App's delivery: %d, want 404", f.status)
	}
	r := call(t, srv, http.MethodPost, "/app/hook/deliveries/"+strconv.FormatInt(failed.ID, 10)+"/attempts", auth, nil)
	if r.status != http.StatusAccepted {
		t.Errorf("redeliver: %d, want 202", r.status)
	}
	log := srv.Deliveries(app.ID)
	if last := log[len(log)-1]; len(log) != 3 || !last.Redelivery || last.GUID != failed.GUID || last.StatusCode != 0 {
		t.Errorf("after redelivery without a webhook: %+v", log)
	}
	if srv.CallCount(githubtest.EndpointAppHookRedeliver) != 1 {
		t.Errorf("redeliver calls not counted")
	}
}

func TestDeliveryLogDelay(t *testing.T) {
	srv := newServer(t, githubtest.Options{DeliveryLogDelay: 3 * time.Second})
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: sharedKey(t)})
	d := srv.DeliverAppEvent(context.Background(), app.ID, "workflow_job", []byte(`{"action":"queued"}`))
	auth := appJWT(t, app)
	id := "/app/hook/deliveries/" + strconv.FormatInt(d.ID, 10)
	if a := call(t, srv, http.MethodGet, "/app/hook/deliveries", auth, nil); a.status != http.StatusOK || strings.TrimSpace(string(a.raw)) != "[]" {
		t.Errorf("list right after the attempt: %d %s, want an empty log", a.status, a.raw)
	}
	if a := call(t, srv, http.MethodGet, id, auth, nil); a.status != http.StatusNotFound {
		t.Errorf("fetch right after the attempt: %d, want 404", a.status)
	}
	srv.Advance(3 * time.Second)
	if a := call(t, srv, http.MethodGet, "/app/hook/deliveries", auth, nil); !strings.Contains(string(a.raw), d.GUID) {
		t.Errorf("list after the delay: %s, want the attempt", a.raw)
	}
	if a := call(t, srv, http.MethodGet, id, auth, nil); a.status != http.StatusOK {
		t.Errorf("fetch after the delay: %d, want 200", a.status)
	}
}
