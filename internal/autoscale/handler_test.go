package autoscale

import (
	"bytes"
	"context"
	"errors"
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

// recordingRecorder records the events it is given. With err set it fails; with unmatched
// set no pool matches.
type recordingRecorder struct {
	mu        sync.Mutex
	err       error
	unmatched bool
	events    []Event
}

func (s *recordingRecorder) Record(_ context.Context, ev Event) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return true, s.err
	}
	s.events = append(s.events, ev)
	return !s.unmatched, nil
}

func (s *recordingRecorder) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *recordingRecorder) got() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

func newTestHandler(events eventRecorder, keys keyring) (*handler, *Metrics) {
	m := NewMetrics(prometheus.NewRegistry())
	return &handler{
		path: DefaultPath, maxBody: 64 << 10, keys: keys, events: events, timeout: DefaultCommitTimeout,
		metrics: m, now: time.Now, seen: newSeenSet(time.Hour, 1000),
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
		name     string
		d        delivery
		status   int
		outcome  string
		recorded bool
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
			events := &recordingRecorder{}
			h, m := newTestHandler(events, staticKeys{[]byte("old"), testSecret})
			rec := tc.d.send(h)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"outcome":"`+tc.outcome+`"`) {
				t.Errorf("answer %d %s, want %d with outcome %s", rec.Code, rec.Body, tc.status, tc.outcome)
			}
			if got := len(events.got()) == 1; got != tc.recorded {
				t.Errorf("event recorded: %v, want %v", got, tc.recorded)
			}
			if n := testutil.CollectAndCount(m.deliveries); n != 1 {
				t.Errorf("delivery metric series = %d, want 1", n)
			}
		})
	}
	if rec := (delivery{path: "/other", event: "ping", body: []byte(`{}`)}).send(func() http.Handler { h, _ := newTestHandler(&recordingRecorder{}, staticKeys{testSecret}); return h }()); rec.Code != http.StatusNotFound {
		t.Errorf("other path: %d, want 404", rec.Code)
	}
}

func TestHandlerEventContents(t *testing.T) {
	events := &recordingRecorder{}
	h, _ := newTestHandler(events, staticKeys{testSecret})
	before := time.Now()
	if rec := jobDelivery("in_progress", 77, "guid-77").send(h); rec.Code != http.StatusAccepted {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	ev := events.got()[0]
	if ev.Delivery != "guid-77" || ev.JobID != 77 || ev.State != corralv1.JobInProgress || ev.RunnerName != "r1" ||
		ev.Repository != "acme/app" || ev.Host != "github.com" || ev.ReceivedAt.Before(before) {
		t.Errorf("event = %+v", ev)
	}
}

func TestHandlerDedupes(t *testing.T) {
	events := &recordingRecorder{}
	h, m := newTestHandler(events, staticKeys{testSecret})
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
	if got := len(events.got()); got != 3 {
		t.Errorf("%d events offered, want 3 (queued, in_progress, completed)", got)
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("workflow_job", "queued", outcomeDuplicate)); v != 2 {
		t.Errorf("duplicate queued deliveries counted %v, want 2", v)
	}
}

func TestHandlerRefusalsAreRetryable(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		outcome string
	}{
		{"backlog full", errBacklogFull, outcomeQueueFull},
		{"write failed", errors.New("etcd is unavailable"), outcomeNotRecorded},
		{"write refused", errRejected, outcomeNotRecorded},
		{"write took too long", context.DeadlineExceeded, outcomeNotRecorded},
		{"shutting down", errStopped, outcomeNotRecorded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := &recordingRecorder{}
			events.fail(tc.err)
			h, m := newTestHandler(events, staticKeys{testSecret})
			d := jobDelivery("queued", 9, "guid-9")
			if ans := d.send(h); ans.Code != http.StatusServiceUnavailable || ans.Header().Get("Retry-After") == "" ||
				!strings.Contains(ans.Body.String(), `"outcome":"`+tc.outcome+`"`) {
				t.Fatalf("answer %d %s (Retry-After %q), want 503 %s with Retry-After", ans.Code, ans.Body, ans.Header().Get("Retry-After"), tc.outcome)
			}
			// The refused delivery is not remembered: GitHub's (or the recovery's) retry goes
			// through, under the same GUID or another webhook's.
			events.fail(nil)
			if ans := d.send(h); ans.Code != http.StatusAccepted {
				t.Errorf("retry after a refusal: %d, want 202", ans.Code)
			}
			if ans := jobDelivery("queued", 9, "guid-other-hook").send(h); ans.Code != http.StatusOK {
				t.Errorf("the same job through another webhook once recorded: %d, want 200 (duplicate)", ans.Code)
			}
			if v := testutil.ToFloat64(m.deliveries.WithLabelValues("workflow_job", "queued", tc.outcome)); v != 1 {
				t.Errorf("%s counted %v, want 1", tc.outcome, v)
			}
		})
	}
}

func TestHandlerUnmatched(t *testing.T) {
	events := &recordingRecorder{unmatched: true}
	h, m := newTestHandler(events, staticKeys{testSecret})
	if ans := jobDelivery("queued", 3, "guid-3").send(h); ans.Code != http.StatusOK || !strings.Contains(ans.Body.String(), outcomeUnmatched) {
		t.Errorf("no pool matches: %d %s, want 200 unmatched", ans.Code, ans.Body)
	}
	if ans := jobDelivery("queued", 3, "guid-3").send(h); ans.Code != http.StatusOK || !strings.Contains(ans.Body.String(), outcomeDuplicate) {
		t.Errorf("redelivery of an unmatched job: %d %s, want 200 duplicate", ans.Code, ans.Body)
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("workflow_job", "queued", outcomeUnmatched)); v != 1 {
		t.Errorf("unmatched counted %v, want 1", v)
	}
}

// blockingRecorder blocks every Record until its context ends.
type blockingRecorder struct{}

func (blockingRecorder) Record(ctx context.Context, _ Event) (bool, error) {
	<-ctx.Done()
	return true, ctx.Err()
}

func TestHandlerBoundsTheWait(t *testing.T) {
	h, _ := newTestHandler(blockingRecorder{}, staticKeys{testSecret})
	h.timeout = 100 * time.Millisecond
	start := time.Now()
	ans := jobDelivery("queued", 4, "guid-4").send(h)
	if took := time.Since(start); ans.Code != http.StatusServiceUnavailable || took > 2*time.Second {
		t.Errorf("a write that never ends: %d after %s, want 503 after the commit timeout", ans.Code, took)
	}
}

// countingKeys counts the refreshes asked for.
type countingKeys struct {
	secrets   [][]byte
	refreshes int
}

func (k *countingKeys) Signers(context.Context) []signer { return globalSigners(k.secrets) }
func (k *countingKeys) Refresh()                         { k.refreshes++ }

func TestHandlerWithoutSecrets(t *testing.T) {
	keys := &countingKeys{}
	events := &recordingRecorder{}
	h, _ := newTestHandler(events, keys)
	if rec := jobDelivery("queued", 1, "g").send(h); rec.Code != http.StatusServiceUnavailable || keys.refreshes != 1 {
		t.Errorf("no secrets loaded: %d, %d refreshes asked; want 503 and 1", rec.Code, keys.refreshes)
	}
	keys.secrets = [][]byte{[]byte("rotated")}
	if rec := jobDelivery("queued", 1, "g").send(h); rec.Code != http.StatusUnauthorized || keys.refreshes != 2 {
		t.Errorf("signature under an unknown secret: %d, %d refreshes asked; want 401 and 2", rec.Code, keys.refreshes)
	}
	if len(events.got()) != 0 {
		t.Error("an event was offered")
	}
}

func TestHandlerMetricLabelsStayBounded(t *testing.T) {
	h, m := newTestHandler(&recordingRecorder{}, staticKeys{testSecret})
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
