package autoscale

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/corral-run/corral/internal/failpoint"
)

// Headers of a GitHub webhook delivery.
const (
	EventHeader    = "X-GitHub-Event"
	DeliveryHeader = "X-GitHub-Delivery"
)

// handler serves webhook deliveries. It verifies, parses and deduplicates a delivery, then
// has the recorder persist it in the demand of the pools it matches, and answers 2xx only
// once that is done: GitHub logs a 2xx as a success and never offers it to the delivery
// recovery again, so an acknowledged delivery must survive a crash of this process.
type handler struct {
	path    string
	maxBody int64
	keys    keyring
	events  eventRecorder
	// timeout bounds the wait for the write (GitHub gives up after 10 s).
	timeout time.Duration
	seen    *seenSet
	metrics *Metrics
	now     func() time.Time
}

// answer is the JSON body of every response.
type answer struct {
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
}

// respond writes status with a small JSON body and counts the delivery.
func (h *handler) respond(w http.ResponseWriter, status int, event, action, outcome, msg string) {
	h.metrics.deliveries.WithLabelValues(event, action, outcome).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer{Outcome: outcome, Message: msg})
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const unverified = "unverified"
	if r.URL.Path != h.path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.respond(w, http.StatusMethodNotAllowed, unverified, "", outcomeBadRequest, "deliveries are POSTed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.respond(w, http.StatusRequestEntityTooLarge, unverified, "", outcomeBadRequest, "body exceeds "+strconv.FormatInt(h.maxBody, 10)+" bytes")
			return
		}
		h.respond(w, http.StatusBadRequest, unverified, "", outcomeBadRequest, "body could not be read")
		return
	}
	signers := h.keys.Signers(r.Context())
	if len(signers) == 0 {
		h.keys.Refresh()
		w.Header().Set("Retry-After", "30")
		h.respond(w, http.StatusServiceUnavailable, unverified, "", outcomeUnavailable, "no webhook secret loaded")
		return
	}
	matched, reason := matchSignature(r.Header.Get(SignatureHeader), body, secretsOfSigners(signers))
	if reason != "" {
		h.metrics.sigFailures.WithLabelValues(reason).Inc()
		if reason == sigMismatch {
			h.keys.Refresh()
		}
		log.FromContext(r.Context()).V(1).Info("refused webhook delivery", "reason", reason, "remote", r.RemoteAddr)
		h.respond(w, http.StatusUnauthorized, unverified, "", outcomeUnauthorized, "signature "+reason)
		return
	}
	// From here on the delivery comes from GitHub, or from whoever holds one of the
	// secrets that matched: what it may reach is decided once it is parsed (vouch).
	event := r.Header.Get(EventHeader)
	switch event {
	case "":
		h.respond(w, http.StatusBadRequest, "", "", outcomeBadRequest, EventHeader+" missing")
	case "ping":
		h.respond(w, http.StatusOK, event, "", outcomePing, "pong")
	case "workflow_job":
		h.workflowJob(w, r, body, signers, matched)
	default:
		h.respond(w, http.StatusOK, eventLabel(event), "", outcomeIgnored, "event not used")
	}
}

// secretsOfSigners returns the signers' secrets, in order.
func secretsOfSigners(signers []signer) [][]byte {
	out := make([][]byte, len(signers))
	for i, s := range signers {
		out[i] = s.secret
	}
	return out
}

// eventLabel is event as a metric label: GitHub's event names are lower-case words joined
// by underscores; anything else (which GitHub never sends) is "other".
func eventLabel(event string) string {
	if len(event) > 64 {
		return "other"
	}
	for _, r := range event {
		if (r < 'a' || r > 'z') && r != '_' {
			return "other"
		}
	}
	return event
}

// workflowJob handles a workflow_job delivery that the secrets of signers marked in
// matched verified.
func (h *handler) workflowJob(w http.ResponseWriter, r *http.Request, body []byte, signers []signer, matched []bool) {
	const event = "workflow_job"
	payload, err := payloadOf(r.Header.Get("Content-Type"), body)
	if errors.Is(err, errContentType) {
		h.respond(w, http.StatusUnsupportedMediaType, event, "", outcomeBadRequest, err.Error())
		return
	}
	if err != nil {
		h.respond(w, http.StatusBadRequest, event, "", outcomeBadRequest, err.Error())
		return
	}
	ev, known, err := parseWorkflowJob(payload)
	if err != nil {
		h.respond(w, http.StatusBadRequest, event, "", outcomeBadRequest, err.Error())
		return
	}
	if !known {
		h.respond(w, http.StatusOK, event, "other", outcomeIgnored, "action not used")
		return
	}
	ev.Delivery = r.Header.Get(DeliveryHeader)
	if ev.Delivery == "" || len(ev.Delivery) > 128 {
		h.respond(w, http.StatusBadRequest, event, ev.Action, outcomeBadRequest, DeliveryHeader+" missing or too long")
		return
	}
	ev.ReceivedAt = h.now()
	var refusals []refusal
	if ev.Vouch, refusals = vouch(ev, signers, matched); ev.Vouch.None() {
		// Signed only with the secrets of classes that do not serve the job, or through
		// another App installation: a tenant's forgery, or a webhook pointed at the wrong
		// secret. Nothing is recorded.
		outcome, msg := refusalAnswer(refusals)
		log.FromContext(r.Context()).Info("refused a verified workflow_job delivery: no secret that verified it vouches for its job", "delivery", ev.Delivery,
			"job", ev.JobID, "repository", ev.Repository, "host", ev.Host, "installation", ev.InstallationID, "reason", msg)
		h.respond(w, http.StatusUnauthorized, event, ev.Action, outcome, msg)
		return
	}
	// A delivery or job state counts as seen only once recorded: a duplicate arriving
	// while the first is still being written is recorded too (a no-op if the first
	// succeeds), so it is never acknowledged on the strength of a write that then fails.
	// The keys name the vouchers: what one tenant sent never passes for another's.
	deliveryKey := "delivery/" + ev.Vouch.key() + "/" + ev.Delivery
	if h.seen.has(deliveryKey) {
		h.respond(w, http.StatusOK, event, ev.Action, outcomeDuplicate, "delivery already received")
		return
	}
	// The same job can arrive through an App and an organization webhook (two GUIDs). Job
	// IDs are unique per GitHub host.
	jobKey := "job/" + ev.Vouch.key() + "/" + ev.Host + "/" + ev.Repository + "/" + strconv.FormatInt(ev.JobID, 10) + "/" + string(ev.State)
	if h.seen.has(jobKey) {
		h.respond(w, http.StatusOK, event, ev.Action, outcomeDuplicate, "job state already received")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	recorded, err := h.events.Record(ctx, ev)
	if err != nil {
		// Not persisted, or not known to be: GitHub logs the delivery as failed, and its
		// redelivery or replay is not taken for a duplicate.
		w.Header().Set("Retry-After", "10")
		if errors.Is(err, errBacklogFull) {
			h.respond(w, http.StatusServiceUnavailable, event, ev.Action, outcomeQueueFull, "backlog full")
			return
		}
		log.FromContext(ctx).Error(err, "workflow_job delivery not recorded; answering 503", "delivery", ev.Delivery, "job", ev.JobID)
		h.respond(w, http.StatusServiceUnavailable, event, ev.Action, outcomeNotRecorded, "not recorded")
		return
	}
	h.seen.add(deliveryKey)
	h.seen.add(jobKey)
	if !recorded {
		h.respond(w, http.StatusOK, event, ev.Action, outcomeUnmatched, "no pool matches the job")
		return
	}
	// Persisted: a crash from here on loses only the answer, and GitHub then logs a failure
	// the recovery replays harmlessly.
	failpoint.Hit("webhook-committed")
	h.respond(w, http.StatusAccepted, event, ev.Action, outcomeAccepted, "")
}
