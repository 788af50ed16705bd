package autoscale

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Headers of a GitHub webhook delivery.
const (
	EventHeader    = "X-GitHub-Event"
	DeliveryHeader = "X-GitHub-Delivery"
)

// eventSink takes verified events; Offer reports false when it cannot take more.
type eventSink interface {
	Offer(ev Event) bool
}

// handler serves webhook deliveries. It does no API call and no matching: it verifies,
// parses, deduplicates and hands the event to the sink, so GitHub gets its answer within
// milliseconds.
type handler struct {
	path    string
	maxBody int64
	keys    keyring
	sink    eventSink
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
	secrets := h.keys.Secrets()
	if len(secrets) == 0 {
		h.keys.Refresh()
		w.Header().Set("Retry-After", "30")
		h.respond(w, http.StatusServiceUnavailable, unverified, "", outcomeUnavailable, "no webhook secret loaded")
		return
	}
	if ok, reason := verifySignature(r.Header.Get(SignatureHeader), body, secrets); !ok {
		h.metrics.sigFailures.WithLabelValues(reason).Inc()
		if reason == sigMismatch {
			h.keys.Refresh()
		}
		log.FromContext(r.Context()).V(1).Info("refused webhook delivery", "reason", reason, "remote", r.RemoteAddr)
		h.respond(w, http.StatusUnauthorized, unverified, "", outcomeUnauthorized, "signature "+reason)
		return
	}
	// From here on the delivery comes from GitHub.
	event := r.Header.Get(EventHeader)
	switch event {
	case "":
		h.respond(w, http.StatusBadRequest, "", "", outcomeBadRequest, EventHeader+" missing")
	case "ping":
		h.respond(w, http.StatusOK, event, "", outcomePing, "pong")
	case "workflow_job":
		h.workflowJob(w, r, body)
	default:
		h.respond(w, http.StatusOK, eventLabel(event), "", outcomeIgnored, "event not used")
	}
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

// workflowJob handles a verified workflow_job delivery.
func (h *handler) workflowJob(w http.ResponseWriter, r *http.Request, body []byte) {
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
	deliveryKey := "delivery/" + ev.Delivery
	if !h.seen.add(deliveryKey) {
		h.respond(w, http.StatusOK, event, ev.Action, outcomeDuplicate, "delivery already received")
		return
	}
	// The same job can arrive through an App and an organization webhook (two GUIDs). Job
	// IDs are unique per GitHub host.
	jobKey := "job/" + ev.Host + "/" + strconv.FormatInt(ev.JobID, 10) + "/" + string(ev.State)
	if !h.seen.add(jobKey) {
		h.respond(w, http.StatusOK, event, ev.Action, outcomeDuplicate, "job state already received")
		return
	}
	if !h.sink.Offer(ev) {
		h.seen.forget(deliveryKey)
		h.seen.forget(jobKey)
		w.Header().Set("Retry-After", "10")
		h.respond(w, http.StatusServiceUnavailable, event, ev.Action, outcomeQueueFull, "queue full")
		return
	}
	h.respond(w, http.StatusAccepted, event, ev.Action, outcomeAccepted, "")
}
