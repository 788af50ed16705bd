package githubtest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

func TestRandomFaultsHitTheirShareWithTheirStatuses(t *testing.T) {
	srv := newServer(t, githubtest.Options{PrimaryLimit: 100000, SecondaryPoints: 100000})
	auth := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	srv.InjectFault(githubtest.Fault{Probability: 0.5, Statuses: []int{502, 429}, RetryAfter: 1500 * time.Millisecond})
	const n = 400
	got := map[int]int{}
	for range n {
		a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil)
		got[a.status]++
		switch a.status {
		case http.StatusTooManyRequests:
			if a.header.Get("Retry-After") != "2" || a.body["message"] == nil {
				t.Fatalf("429 answer: Retry-After %q, body %s; want a secondary rate limit with Retry-After 2", a.header.Get("Retry-After"), a.raw)
			}
		case http.StatusOK, http.StatusBadGateway:
		default:
			t.Fatalf("unexpected status %d: %s", a.status, a.raw)
		}
	}
	if failed := got[502] + got[429]; failed != n/2 || got[502] == 0 || got[429] == 0 {
		t.Errorf("answers %v: want exactly half failed (decks of ten), with both statuses", got)
	}
	if answers := srv.FaultAnswers(); answers[502] != got[502] || answers[429] != got[429] {
		t.Errorf("FaultAnswers = %v, want %v", answers, got)
	}
}

func TestASparedRequestMeetsTheNextFault(t *testing.T) {
	srv := newServer(t, githubtest.Options{})
	auth := "Bearer " + srv.AddPAT(githubtest.PATOptions{}).Token
	srv.InjectFault(githubtest.Fault{Probability: 0.000001, Status: 500})
	srv.InjectFault(githubtest.Fault{Status: http.StatusServiceUnavailable})
	if a := call(t, srv, http.MethodGet, "/orgs/acme/actions/runners", auth, nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 from the second fault", a.status)
	}
	if by := srv.CallsByCredential(); len(by) != 1 {
		t.Errorf("CallsByCredential = %v, want the PAT's one call", by)
	}
}
