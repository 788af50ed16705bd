package githubtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" // GitHub still sends the legacy X-Hub-Signature header
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Endpoints of a GitHub App's webhook delivery log (App JWT only).
const (
	EndpointAppHookDeliveries = "GET /app/hook/deliveries"
	EndpointAppHookDelivery   = "GET /app/hook/deliveries/{delivery_id}"
	EndpointAppHookRedeliver  = "POST /app/hook/deliveries/{delivery_id}/attempts"
)

// hookDeliveryTimeout is how long GitHub waits for a webhook receiver to answer.
const hookDeliveryTimeout = 10 * time.Second

// AppWebhook is where the fake sends a GitHub App's webhook deliveries.
type AppWebhook struct {
	// URL receives the deliveries.
	URL string
	// URLs are further receivers: each attempt goes to one of URL and URLs picked at random,
	// as when a load balancer spreads GitHub's deliveries over several replicas.
	URLs []string
	// Secret signs them (X-Hub-Signature-256); empty sends them unsigned.
	Secret string
	// Form sends application/x-www-form-urlencoded bodies (payload=...), as organization and
	// repository webhooks do by default; false sends application/json, as Apps always do.
	Form bool
	// Client sends the deliveries; nil is a client with GitHub's 10 s timeout.
	Client *http.Client
}

// target picks the receiver of one attempt; empty when none is configured.
func (h AppWebhook) target() string {
	var all []string
	for _, u := range append([]string{h.URL}, h.URLs...) {
		if u != "" {
			all = append(all, u)
		}
	}
	if len(all) == 0 {
		return ""
	}
	return all[rand.IntN(len(all))] //nolint:gosec // load spreading, not security
}

// Delivery is one attempt to deliver a webhook event, as an App's delivery log lists it.
// The JSON form (without the payload) is the one the fake GitHub process lists on its
// control API.
type Delivery struct {
	// ID identifies the attempt.
	ID int64 `json:"id"`
	// GUID is the X-GitHub-Delivery header, shared by an event's redeliveries.
	GUID string `json:"guid"`
	// DeliveredAt is when the attempt was made.
	DeliveredAt time.Time `json:"deliveredAt"`
	// Redelivery is true for attempts after the first.
	Redelivery bool `json:"redelivery,omitempty"`
	// Duration of the attempt.
	Duration time.Duration `json:"duration"`
	// StatusCode is the receiver's answer; 0 when no answer came (connection failed).
	StatusCode int `json:"statusCode"`
	// Event is the X-GitHub-Event header, e.g. workflow_job.
	Event string `json:"event"`
	// Action is the payload's action, e.g. queued.
	Action string `json:"action"`
	// InstallationID and RepositoryID are read from the payload.
	InstallationID int64 `json:"installationID,omitempty"`
	RepositoryID   int64 `json:"repositoryID,omitempty"`
	// Payload is the JSON payload.
	Payload []byte `json:"-"`
	// URL is where the attempt was sent.
	URL string `json:"url,omitempty"`
	// Response is the receiver's answer body (truncated).
	Response string `json:"response,omitempty"`
	// Fetched counts the reads of this attempt through the API (GET
	// /app/hook/deliveries/{delivery_id}), e.g. by a receiver recovering a failed delivery.
	Fetched int `json:"fetched,omitempty"`
}

// Succeeded reports whether the receiver answered 2xx.
func (d Delivery) Succeeded() bool { return d.StatusCode >= 200 && d.StatusCode < 300 }

// hookState is the fake's webhook configuration and delivery log, guarded by Server.mu.
type hookState struct {
	webhooks   map[int64]AppWebhook // App ID -> webhook
	deliveries []storedDelivery     // oldest first
}

type storedDelivery struct {
	appID int64
	Delivery
}

// SetAppWebhook configures where the App appID's webhook deliveries go.
func (s *Server) SetAppWebhook(appID int64, hook AppWebhook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooks.webhooks == nil {
		s.hooks.webhooks = map[int64]AppWebhook{}
	}
	s.hooks.webhooks[appID] = hook
}

// RecordDelivery adds an attempt to the App's delivery log without sending anything, e.g.
// a delivery that failed while the receiver was down (StatusCode 0 or 5xx). Empty GUID,
// zero DeliveredAt and empty Action are filled in (Action from the payload); the ID is
// always assigned, in increasing order: GitHub's log is in time order, so record older
// attempts first. It returns the stored attempt.
func (s *Server) RecordDelivery(appID int64, d Delivery) Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordLocked(appID, d)
}

func (s *Server) recordLocked(appID int64, d Delivery) Delivery {
	d.ID = s.nextIDLocked()
	if d.GUID == "" {
		d.GUID = newGUID()
	}
	if d.DeliveredAt.IsZero() {
		d.DeliveredAt = s.nowLocked()
	}
	meta := payloadMeta(d.Payload)
	if d.Action == "" {
		d.Action = meta.Action
	}
	if d.InstallationID == 0 {
		d.InstallationID = meta.Installation.ID
	}
	if d.RepositoryID == 0 {
		d.RepositoryID = meta.Repository.ID
	}
	d.Payload = append([]byte(nil), d.Payload...)
	s.hooks.deliveries = append(s.hooks.deliveries, storedDelivery{appID: appID, Delivery: d})
	return d
}

// Deliveries returns the App's delivery log, oldest attempt first.
func (s *Server) Deliveries(appID int64) []Delivery { return s.appDeliveries(appID, false) }

// loggedDeliveries is the App's delivery log as its API shows it: the attempts that ended
// DeliveryLogDelay ago or earlier.
func (s *Server) loggedDeliveries(appID int64) []Delivery { return s.appDeliveries(appID, true) }

// appDeliveries returns the App's attempts, oldest first; only those the API shows yet
// when logged.
func (s *Server) appDeliveries(appID int64, logged bool) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.hooks.deliveries {
		if d.appID == appID && (!logged || s.loggedLocked(d.Delivery)) {
			out = append(out, d.Delivery)
		}
	}
	return out
}

// loggedLocked reports whether the API shows the attempt d yet.
func (s *Server) loggedLocked(d Delivery) bool {
	return !d.DeliveredAt.Add(d.Duration + s.opts.DeliveryLogDelay).After(s.nowLocked())
}

// DeliverAppEvent sends event with payload to the App's webhook as GitHub does (signed,
// with a new GUID, within GitHub's 10 s timeout) and records the attempt in the delivery
// log, failed or not. With no webhook configured the attempt fails to connect.
func (s *Server) DeliverAppEvent(ctx context.Context, appID int64, event string, payload []byte) Delivery {
	return s.deliver(ctx, appID, Delivery{GUID: newGUID(), Event: event, Payload: payload})
}

// deliver sends one attempt of d and records it.
func (s *Server) deliver(ctx context.Context, appID int64, d Delivery) Delivery {
	s.mu.Lock()
	hook, ok := s.hooks.webhooks[appID]
	s.mu.Unlock()
	start := time.Now()
	if target := hook.target(); ok && target != "" {
		d.URL = target
		client := hook.Client
		if client == nil {
			client = &http.Client{Timeout: hookDeliveryTimeout}
		}
		status, body, err := SendWebhook(ctx, client, target, WebhookRequest{
			Event: d.Event, GUID: d.GUID, Payload: d.Payload, Secret: hook.Secret, Form: hook.Form,
			Headers: map[string]string{
				"X-GitHub-Hook-ID":                       strconv.FormatInt(appID+1, 10),
				"X-GitHub-Hook-Installation-Target-ID":   strconv.FormatInt(appID, 10),
				"X-GitHub-Hook-Installation-Target-Type": "integration",
			},
		})
		if err == nil {
			d.StatusCode, d.Response = status, body
		}
	}
	d.Duration = time.Since(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordLocked(appID, d)
}

// WebhookRequest is a webhook delivery to send with SendWebhook.
type WebhookRequest struct {
	// Event is the X-GitHub-Event header.
	Event string
	// GUID is the X-GitHub-Delivery header; empty generates one.
	GUID string
	// Payload is the JSON payload.
	Payload []byte
	// Secret signs the body; empty sends no signature headers.
	Secret string
	// Form sends payload=<url-encoded JSON> as application/x-www-form-urlencoded.
	Form bool
	// Headers are extra headers, set last (they may override the others).
	Headers map[string]string
}

// SendWebhook POSTs a delivery to url the way GitHub does (X-GitHub-Event,
// X-GitHub-Delivery, X-Hub-Signature and X-Hub-Signature-256 over the exact body) and
// returns the status code and (at most 4 KiB of) the answer.
func SendWebhook(ctx context.Context, client *http.Client, url string, wr WebhookRequest) (int, string, error) {
	body, contentType := wr.Payload, "application/json"
	if wr.Form {
		body, contentType = []byte(formBody(wr.Payload)), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("building webhook request: %w", err)
	}
	guid := wr.GUID
	if guid == "" {
		guid = newGUID()
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "GitHub-Hookshot/fake")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("X-GitHub-Event", wr.Event)
	req.Header.Set("X-GitHub-Delivery", guid)
	if wr.Secret != "" {
		req.Header.Set("X-Hub-Signature-256", SignPayload(wr.Secret, body))
		mac := hmac.New(sha1.New, []byte(wr.Secret))
		mac.Write(body)
		req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
	}
	for k, v := range wr.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("sending webhook: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(answer), nil
}

// SignPayload is the X-Hub-Signature-256 header GitHub sends for body: "sha256=" and the
// hex HMAC-SHA256 of the body keyed with secret.
func SignPayload(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// formBody is a form-encoded webhook body: payload=<JSON>.
func formBody(payload []byte) string {
	return url.Values{"payload": {string(payload)}}.Encode()
}

// payloadFields are the payload fields the delivery log shows.
type payloadFields struct {
	Action       string `json:"action"`
	Installation struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Repository struct {
		ID int64 `json:"id"`
	} `json:"repository"`
}

func payloadMeta(payload []byte) payloadFields {
	var m payloadFields
	_ = json.Unmarshal(payload, &m)
	return m
}

func newGUID() string {
	r := strings.ToLower(randomString(32))
	return r[:8] + "-" + r[8:12] + "-" + r[12:16] + "-" + r[16:20] + "-" + r[20:32]
}

// hookRoutes registers the delivery-log endpoints.
func (s *Server) hookRoutes(mux *http.ServeMux) {
	s.route(mux, EndpointAppHookDeliveries, s.appOnly(s.handleListDeliveries))
	s.route(mux, EndpointAppHookDelivery, s.appOnly(s.handleGetDelivery))
	s.route(mux, EndpointAppHookRedeliver, s.appOnly(s.handleRedeliver))
}

// appOnly refuses callers that are not an App authenticated with its JWT, as GitHub does on
// /app endpoints.
func (s *Server) appOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		if p.appID == 0 {
			writeError(w, errJWTRequired)
			return
		}
		h(w, r, p)
	}
}

// deliveryJSON is an entry of GET /app/hook/deliveries.
type deliveryJSON struct {
	ID             int64   `json:"id"`
	GUID           string  `json:"guid"`
	DeliveredAt    string  `json:"delivered_at"`
	Redelivery     bool    `json:"redelivery"`
	Duration       float64 `json:"duration"`
	Status         string  `json:"status"`
	StatusCode     int     `json:"status_code"`
	Event          string  `json:"event"`
	Action         *string `json:"action"`
	InstallationID *int64  `json:"installation_id"`
	RepositoryID   *int64  `json:"repository_id"`
	ThrottledAt    *string `json:"throttled_at"`
}

type hookMessageJSON struct {
	Headers map[string]string `json:"headers"`
	Payload any               `json:"payload"`
}

// deliveryDetailJSON is the answer of GET /app/hook/deliveries/{delivery_id}.
type deliveryDetailJSON struct {
	deliveryJSON
	URL      string          `json:"url"`
	Request  hookMessageJSON `json:"request"`
	Response hookMessageJSON `json:"response"`
}

func toDeliveryJSON(d Delivery) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, GUID: d.GUID, DeliveredAt: d.DeliveredAt.UTC().Format(time.RFC3339), Redelivery: d.Redelivery,
		Duration: d.Duration.Seconds(), StatusCode: d.StatusCode, Event: d.Event, Status: deliveryStatus(d.StatusCode),
	}
	if d.Action != "" {
		out.Action = &d.Action
	}
	if d.InstallationID != 0 {
		out.InstallationID = &d.InstallationID
	}
	if d.RepositoryID != 0 {
		out.RepositoryID = &d.RepositoryID
	}
	return out
}

func deliveryStatus(code int) string {
	switch {
	case code == 0:
		return "failed to connect to host"
	case code >= 200 && code < 300:
		return "OK"
	default:
		return "Invalid HTTP Response: " + strconv.Itoa(code)
	}
}

// handleListDeliveries is GET /app/hook/deliveries: newest first, per_page (default 30, at
// most 100) and cursor pagination with a Link header, as GitHub does.
func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	var before int64 // cursor: list attempts with an ID at most this
	if c := q.Get("cursor"); c != "" {
		id, err := strconv.ParseInt(strings.TrimPrefix(c, "v1_"), 10, 64)
		if err != nil || id <= 0 {
			writeError(w, &apiError{status: http.StatusBadRequest, message: "Invalid cursor"})
			return
		}
		before = id
	}
	all := s.loggedDeliveries(p.appID)
	sort.Slice(all, func(i, j int) bool { return all[i].ID > all[j].ID })
	var page []deliveryJSON
	next := int64(0)
	for _, d := range all {
		if before != 0 && d.ID > before {
			continue
		}
		if len(page) == perPage {
			next = d.ID
			break
		}
		page = append(page, toDeliveryJSON(d))
	}
	if next != 0 {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		if r.TLS != nil {
			u.Scheme = "https"
		}
		u.RawQuery = url.Values{"per_page": {strconv.Itoa(perPage)}, "cursor": {"v1_" + strconv.FormatInt(next, 10)}}.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.String()))
	}
	if page == nil {
		page = []deliveryJSON{}
	}
	writeJSON(w, http.StatusOK, page)
}

// lookupDelivery finds the App's attempt named in the path; fetch counts the read.
func (s *Server) lookupDelivery(r *http.Request, appID int64, fetch bool) (Delivery, bool) {
	id, err := strconv.ParseInt(r.PathValue("delivery_id"), 10, 64)
	if err != nil {
		return Delivery{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.hooks.deliveries {
		if d := &s.hooks.deliveries[i]; d.ID == id && d.appID == appID && s.loggedLocked(d.Delivery) {
			if fetch {
				d.Fetched++
			}
			return d.Delivery, true
		}
	}
	return Delivery{}, false
}

// handleGetDelivery is GET /app/hook/deliveries/{delivery_id}: the attempt with its request
// (headers and JSON payload) and the receiver's answer.
func (s *Server) handleGetDelivery(w http.ResponseWriter, r *http.Request, p *principal) {
	d, ok := s.lookupDelivery(r, p.appID, true)
	if !ok {
		writeError(w, errNotFound)
		return
	}
	var payload any
	if err := json.Unmarshal(d.Payload, &payload); err != nil {
		payload = nil
	}
	writeJSON(w, http.StatusOK, deliveryDetailJSON{
		deliveryJSON: toDeliveryJSON(d),
		URL:          d.URL,
		Request: hookMessageJSON{
			Headers: map[string]string{
				"Content-Type": "application/json", "X-GitHub-Event": d.Event, "X-GitHub-Delivery": d.GUID,
				"X-GitHub-Hook-Installation-Target-Type": "integration",
			},
			Payload: payload,
		},
		Response: hookMessageJSON{Headers: map[string]string{}, Payload: d.Response},
	})
}

// handleRedeliver is POST /app/hook/deliveries/{delivery_id}/attempts: it sends the event
// again (same GUID, Redelivery set), records the attempt and answers 202.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request, p *principal) {
	d, ok := s.lookupDelivery(r, p.appID, false)
	if !ok {
		writeError(w, errNotFound)
		return
	}
	s.deliver(r.Context(), p.appID, Delivery{GUID: d.GUID, Event: d.Event, Payload: d.Payload, Redelivery: true})
	writeJSON(w, http.StatusAccepted, struct{}{})
}
