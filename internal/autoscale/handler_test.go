package autoscale

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
)

var testSecret = []byte("It's a Secret to Everybody")

// recordingSink records offered events; full refuses them.
type recordingSink struct {
	mu     sync.Mutex
	full   bool
	events []Event
}

func (s *recordingSink) Offer(ev Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return false
	}
	s.events = append(s.events, ev)
	return true
}

func (s *recordingSink) got() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

func newTestHandler(sink eventSink, keys keyring) (*handler, *Metrics) {
	m := NewMetrics(prometheus.NewRegistry())
	return &handler{
		path: DefaultPath, maxBody: 64 << 10, keys: keys, sink: sink, metrics: m, now: time.Now,
		seen: newSeenSet(time.Hour, 1000),
	}, m
}

// delivery is a request to the handler.
type delivery struct {
	method, path, contentType, event, guid, signature string
	body                                              []byte
	unsigned                                          bool
}

func (d delivery) send(h http.Handler) *httptest.ResponseRecorder {
	if d.method == "" {
		d.method = http.MethodPost
	}
	if d.path == "" {
		d.path = DefaultPath
	}
	if d.contentType == "" {
		d.contentType = "application/json"
	}
	req := httptest.NewRequest(d.method, d.path, bytes.NewReader(d.body))
	req.Header.Set("Content-Type", d.contentType)
	if d.event != "" {
		req.Header.Set(EventHeader, d.event)
	}
	if d.guid != "" {
		req.Header.Set(DeliveryHeader, d.guid)
	}
	switch {
	case d.signature != "":
		req.Header.Set(SignatureHeader, d.signature)
	case !d.unsigned:
		req.Header.Set(SignatureHeader, Sign(testSecret, d.body))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func jobDelivery(action string, id int64, guid string) delivery {
	return delivery{event: "workflow_job", guid: guid, body: githubtest.WorkflowJobPayload(githubtest.WorkflowJob{
		Action: action, ID: id, Labels: []string{"self-hosted", "linux"}, RunnerName: map[bool]string{true: "r1"}[action != "queued"],
	})}
}

func TestHandlerStatusCodes(t *testing.T) {
	queued := jobDelivery("queued", 1, "g-1")
	form := jobDelivery("queued", 2, "g-2")
	form.contentType = "application/x-www-form-urlencoded"
	form.body = []byte(url.Values{"payload": {string(form.body)}}.Encode())
	big := jobDelivery("queued", 3, "g-3")
	big.body = append(big.body, bytes.Repeat([]byte(" "), 64<<10)...)
	cases := []struct {
		name    string
		d       delivery
		status  int
		outcome string
		offered bool
	}{
		{"queued JSON", queued, http.StatusAccepted, outcomeAccepted, true},
		{"form-encoded", form, http.StatusAccepted, outcomeAccepted, true},
		{"ping", delivery{event: "ping", guid: "g-p", body: []byte(`{"zen":"Keep it logically awesome."}`)}, http.StatusOK, outcomePing, false},
		{"unknown event", delivery{event: "push", guid: "g-u", body: []byte(`{}`)}, http.StatusOK, outcomeIgnored, false},
		{"unknown action", jobDelivery("requested", 4, "g-4"), http.StatusOK, outcomeIgnored, false},
		{"unsigned", delivery{event: "workflow_job", guid: "g-5", body: queued.body, unsigned: true}, http.StatusUnauthorized, outcomeUnauthorized, false},
		{"signed with another secret", delivery{event: "workflow_job", guid: "g-6", body: queued.body, signature: Sign([]byte("nope"), queued.body)}, http.StatusUnauthorized, outcomeUnauthorized, false},
		{"unsigned ping", delivery{event: "ping", guid: "g-7", body: []byte(`{}`), unsigned: true}, http.StatusUnauthorized, outcomeUnauthorized, false},
		{"GET", delivery{method: http.MethodGet, event: "ping", body: nil}, http.StatusMethodNotAllowed, outcomeBadRequest, false},
		{"text/plain", delivery{event: "workflow_job", guid: "g-8", body: queued.body, contentType: "text/plain"}, http.StatusUnsupportedMediaType, outcomeBadRequest, false},
		{"too large", big, http.StatusRequestEntityTooLarge, outcomeBadRequest, false},
		{"no event header", delivery{guid: "g-9", body: queued.body}, http.StatusBadRequest, outcomeBadRequest, false},
		{"not JSON", delivery{event: "workflow_job", guid: "g-10", body: []byte(`{`)}, http.StatusBadRequest, outcomeBadRequest, false},
		{"no delivery header", jobDelivery("queued", 11, ""), http.StatusBadRequest, outcomeBadRequest, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordingSink{}
			h, m := newTestHandler(sink, staticKeys{[]byte("old"), testSecret})
			rec := tc.d.send(h)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"outcome":"`+tc.outcome+`"`) {
				t.Errorf("answer %d %s, want %d with outcome %s", rec.Code, rec.Body, tc.status, tc.outcome)
			}
			if got := len(sink.got()) == 1; got != tc.offered {
				t.Errorf("event offered: %v, want %v", got, tc.offered)
			}
			if n := testutil.CollectAndCount(m.deliveries); n != 1 {
				t.Errorf("delivery metric series = %d, want 1", n)
			}
		})
	}
	if rec := (delivery{path: "/other", event: "ping", body: []byte(`{}`)}).send(func() http.Handler { h, _ := newTestHandler(&recordingSink{}, staticKeys{testSecret}); return h }()); rec.Code != http.StatusNotFound {
		t.Errorf("other path: %d, want 404", rec.Code)
	}
}

func TestHandlerEventContents(t *testing.T) {
	sink := &recordingSink{}
	h, _ := newTestHandler(sink, staticKeys{testSecret})
	before := time.Now()
	if rec := jobDelivery("in_progress", 77, "guid-77").send(h); rec.Code != http.StatusAccepted {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	ev := sink.got()[0]
	if ev.Delivery != "guid-77" || ev.JobID != 77 || ev.State != corralv1.JobInProgress || ev.RunnerName != "r1" ||
		ev.Repository != "acme/app" || ev.Host != "github.com" || ev.ReceivedAt.Before(before) {
		t.Errorf("event = %+v", ev)
	}
}

func TestHandlerDedupes(t *testing.T) {
	sink := &recordingSink{}
	h, m := newTestHandler(sink, staticKeys{testSecret})
	steps := []struct {
		d      delivery
		status int
	}{
		{jobDelivery("queued", 5, "guid-a"), http.StatusAccepted},
		{jobDelivery("queued", 5, "guid-a"), http.StatusOK}, // GitHub redelivered it
		{jobDelivery("queued", 5, "guid-b"), http.StatusOK}, // the same job through another webhook
		{jobDelivery("in_progress", 5, "guid-c"), http.StatusAccepted},
		{jobDelivery("completed", 5, "guid-d"), http.StatusAccepted},
		{jobDelivery("completed", 5, "guid-e"), http.StatusOK},
	}
	for i, s := range steps {
		if rec := s.d.send(h); rec.Code != s.status {
			t.Errorf("step %d: %d %s, want %d", i, rec.Code, rec.Body, s.status)
		}
	}
	if got := len(sink.got()); got != 3 {
		t.Errorf("%d events offered, want 3 (queued, in_progress, completed)", got)
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("workflow_job", "queued", outcomeDuplicate)); v != 2 {
		t.Errorf("duplicate queued deliveries counted %v, want 2", v)
	}
}

func TestHandlerQueueFullIsRetryable(t *testing.T) {
	sink := &recordingSink{full: true}
	h, m := newTestHandler(sink, staticKeys{testSecret})
	d := jobDelivery("queued", 9, "guid-9")
	if rec := d.send(h); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("full queue: %d, want 503 with Retry-After", rec.Code)
	}
	// The refused delivery is not remembered: GitHub's (or the recovery's) retry goes through.
	sink.mu.Lock()
	sink.full = false
	sink.mu.Unlock()
	if rec := d.send(h); rec.Code != http.StatusAccepted {
		t.Errorf("retry after a full queue: %d, want 202", rec.Code)
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("workflow_job", "queued", outcomeQueueFull)); v != 1 {
		t.Errorf("queue_full counted %v, want 1", v)
	}
}

// countingKeys counts the refreshes asked for.
type countingKeys struct {
	secrets   [][]byte
	refreshes int
}

func (k *countingKeys) Secrets() [][]byte { return k.secrets }
func (k *countingKeys) Refresh()          { k.refreshes++ }

func TestHandlerWithoutSecrets(t *testing.T) {
	keys := &countingKeys{}
	sink := &recordingSink{}
	h, _ := newTestHandler(sink, keys)
	if rec := jobDelivery("queued", 1, "g").send(h); rec.Code != http.StatusServiceUnavailable || keys.refreshes != 1 {
		t.Errorf("no secrets loaded: %d, %d refreshes asked; want 503 and 1", rec.Code, keys.refreshes)
	}
	keys.secrets = [][]byte{[]byte("rotated")}
	if rec := jobDelivery("queued", 1, "g").send(h); rec.Code != http.StatusUnauthorized || keys.refreshes != 2 {
		t.Errorf("signature under an unknown secret: %d, %d refreshes asked; want 401 and 2", rec.Code, keys.refreshes)
	}
	if len(sink.got()) != 0 {
		t.Error("an event was offered")
	}
}

// TestHandlerAnswersFast shows that GitHub never waits for the demand store: the real work
// queue is given deliveries while nothing applies them.
func TestHandlerAnswersFast(t *testing.T) {
	q := newWorkQueue(1000, nil, nil, NewMetrics(nil))
	h, _ := newTestHandler(q, staticKeys{testSecret})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := srv.Client()
	var slowest time.Duration
	for i := range 50 {
		body := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "queued", ID: int64(i + 1), Labels: []string{"linux"}})
		start := time.Now()
		status, _, err := githubtest.SendWebhook(context.Background(), client, srv.URL+DefaultPath,
			githubtest.WebhookRequest{Event: "workflow_job", Payload: body, Secret: string(testSecret)})
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("delivery %d: %d %v", i, status, err)
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("slowest answer took %s, want < 100ms", slowest)
	}
	if q.Backlog() != 50 {
		t.Errorf("backlog = %d, want the 50 accepted deliveries", q.Backlog())
	}
	// The bound holds: the queue refuses what it cannot hold.
	small := newWorkQueue(2, nil, nil, NewMetrics(nil))
	for i := range 3 {
		if ok := small.Offer(Event{JobID: int64(i)}); ok != (i < 2) {
			t.Errorf("offer %d to a queue of 2: %v", i, ok)
		}
	}
}

func TestHandlerMetricLabelsStayBounded(t *testing.T) {
	h, m := newTestHandler(&recordingSink{}, staticKeys{testSecret})
	for i := range 20 {
		d := delivery{event: "evil-" + strconv.Itoa(i), guid: "g", body: []byte(`{}`), unsigned: true}
		d.send(h)
	}
	if n := testutil.CollectAndCount(m.deliveries); n != 1 {
		t.Errorf("unsigned deliveries with 20 event names made %d series, want 1", n)
	}
	if v := testutil.ToFloat64(m.sigFailures.WithLabelValues(sigMissing)); v != 20 {
		t.Errorf("signature failures = %v, want 20", v)
	}
	// Signed events GitHub would never name this way (found by FuzzHandler: an invalid
	// UTF-8 label value made Prometheus panic).
	for _, name := range []string{"\xc1", "Push", strings.Repeat("a", 65), "check_run"} {
		if rec := (delivery{event: name, guid: "g", body: []byte(`{}`)}).send(h); rec.Code != http.StatusOK {
			t.Errorf("signed event %q: %d, want 200", name, rec.Code)
		}
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("other", "", outcomeIgnored)); v != 3 {
		t.Errorf("odd event names counted as other %v times, want 3", v)
	}
}
