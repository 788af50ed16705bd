package autoscale

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// FuzzHandler throws arbitrary deliveries at the handler. Whatever the input, it must not
// panic, and a delivery whose signature does not verify must never reach the demand store.
// With sign set, the input is signed with the right secret, so the parsing behind the
// signature check is fuzzed too (no panic, and only workflow_job events with a job ID are
// recorded). `go test` runs the seeds; `go test -fuzz FuzzHandler` explores.
func FuzzHandler(f *testing.F) {
	queued := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "queued", ID: 1, Labels: []string{"self-hosted"}})
	completed := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "completed", ID: 1, RunnerName: "r"})
	form := []byte(url.Values{"payload": {string(queued)}}.Encode())
	seeds := []struct {
		method, contentType, event, delivery, signature string
		body                                            []byte
		sign                                            bool
	}{
		{"POST", "application/json", "workflow_job", "g1", "", queued, true},
		{"POST", "application/json", "workflow_job", "g1", "", queued, false},
		{"POST", "application/json", "workflow_job", "g1", "sha256=" + string(bytes.Repeat([]byte("0"), 64)), queued, false},
		{"POST", "application/json", "workflow_job", "g1", Sign([]byte("wrong"), queued), queued, false},
		{"POST", "application/x-www-form-urlencoded", "workflow_job", "g2", "", form, true},
		{"POST", "application/x-www-form-urlencoded", "workflow_job", "g2", "", form, false},
		{"POST", "application/json", "workflow_job", "g3", "", completed, true},
		{"POST", "application/json", "ping", "g4", "", []byte(`{"zen":"x"}`), false},
		{"POST", "application/json", "workflow_job", "g5", "", []byte(`{"workflow_job":{"id":-1},"action":"queued"}`), true},
		{"POST", "application/json", "workflow_job", "", "", []byte(`{"action":"queued","workflow_job":{"id":1e99},"repository":{"full_name":"a/b"}}`), true},
		{"POST", "multipart/form-data; boundary=x", "workflow_job", "g6", "", []byte("--x--"), true},
		{"PUT", "application/json", "workflow_job", "g7", "", queued, true},
		{"POST", "application/json;;", "", "", "sha256=", nil, false},
	}
	for _, s := range seeds {
		f.Add(s.method, s.contentType, s.event, s.delivery, s.signature, s.body, s.sign)
	}
	f.Fuzz(func(t *testing.T, method, contentType, event, delivery, signature string, body []byte, sign bool) {
		req, err := http.NewRequest(method, "http://corral"+DefaultPath, bytes.NewReader(body))
		if err != nil {
			t.Skip("not a request")
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set(EventHeader, event)
		req.Header.Set(DeliveryHeader, delivery)
		if sign {
			signature = Sign(testSecret, body)
		}
		req.Header.Set(SignatureHeader, signature)
		verified, _ := verifySignature(signature, body, [][]byte{testSecret})

		events := &recordingRecorder{}
		h, _ := newTestHandler(events, staticKeys{testSecret})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		offered := events.got()
		if !verified && len(offered) > 0 {
			t.Fatalf("unsigned input reached the demand store: %+v", offered)
		}
		if !verified && rec.Code < 400 {
			t.Fatalf("unsigned input answered %d", rec.Code)
		}
		for _, ev := range offered {
			if ev.JobID <= 0 || ev.Delivery == "" || event != "workflow_job" || method != http.MethodPost {
				t.Fatalf("offered an event that should have been refused: %+v", ev)
			}
		}
	})
}
