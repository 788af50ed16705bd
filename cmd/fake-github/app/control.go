package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// maxControlBody caps a control request's body.
const maxControlBody = 1 << 20

// countedEndpoints are the GitHub endpoints whose call counts /v1/calls reports.
func countedEndpoints() []string {
	return []string{
		githubtest.EndpointAccessToken, githubtest.EndpointOrgJIT, githubtest.EndpointOrgRunners,
		githubtest.EndpointOrgRunner, githubtest.EndpointOrgDeleteRunner, githubtest.EndpointOrgRunnerGroups,
		githubtest.EndpointAppHookDeliveries, githubtest.EndpointAppHookDelivery,
	}
}

// routes is the control API. It has no authentication: it listens on loopback only.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, s.info) })
	mux.HandleFunc("GET /v1/runners", func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, nonNil(s.gh.Runners())) })
	mux.HandleFunc("GET /v1/registrations", s.listRegistrations)
	mux.HandleFunc("GET /v1/stats", s.stats)
	mux.HandleFunc("GET /v1/secrets", s.secrets)
	mux.HandleFunc("POST /v1/runners", s.registerRunner)
	mux.HandleFunc("POST /v1/runners/{name}/exit", s.exitRunner)
	mux.HandleFunc("POST /v1/runners/{name}/{action}", s.runnerAction)
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, s.jobs.list()) })
	mux.HandleFunc("GET /v1/jobs/{id}", s.getJob)
	mux.HandleFunc("POST /v1/jobs", s.queueJobs)
	mux.HandleFunc("POST /v1/jobs/release", s.releaseJobs)
	mux.HandleFunc("POST /v1/webhooks", s.sendWebhook)
	mux.HandleFunc("GET /v1/deliveries", s.listDeliveries)
	mux.HandleFunc("GET /v1/calls", s.calls)
	mux.HandleFunc("GET /v1/calls/credentials", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, s.gh.CallsByCredential())
	})
	mux.HandleFunc("POST /v1/faults", s.injectFault)
	mux.HandleFunc("DELETE /v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.gh.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (s *Server) registerRunner(w http.ResponseWriter, r *http.Request) {
	var spec githubtest.RunnerSpec
	if !decode(w, r, &spec) {
		return
	}
	if spec.Name == "" {
		fail(w, http.StatusBadRequest, errors.New("a runner needs a name"))
		return
	}
	if spec.Scope == "" {
		spec.Scope = githubtest.Org(s.cfg.Org)
	}
	reg := s.gh.AddRunner(spec)
	s.log.Info("runner registered directly", "runner", reg.Name)
	reply(w, http.StatusCreated, reg)
}

func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) {
	var req FaultRequest
	if !decode(w, r, &req) {
		return
	}
	f, err := req.fault()
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	s.gh.InjectFault(f)
	s.log.Info("fault injected", "endpoint", req.Endpoint, "credential", req.Credential, "latency", req.Latency,
		"status", req.Status, "statuses", fmt.Sprint(req.Statuses), "probability", req.Probability, "times", req.Times)
	w.WriteHeader(http.StatusNoContent)
}

// fault is the githubtest.Fault the request describes.
func (req FaultRequest) fault() (githubtest.Fault, error) {
	f := githubtest.Fault{Endpoint: req.Endpoint, Credential: req.Credential, Status: req.Status, Statuses: req.Statuses,
		Probability: req.Probability, Times: req.Times}
	if req.Probability < 0 || req.Probability > 1 {
		return f, fmt.Errorf("probability %v is not between 0 and 1", req.Probability)
	}
	for _, d := range []struct {
		name, value string
		into        *time.Duration
	}{{"latency", req.Latency, &f.Latency}, {"retryAfter", req.RetryAfter, &f.RetryAfter}} {
		if d.value == "" {
			continue
		}
		v, err := time.ParseDuration(d.value)
		if err != nil || v < 0 {
			return f, fmt.Errorf("%s %q is not a positive Go duration", d.name, d.value)
		}
		*d.into = v
	}
	return f, nil
}

func (s *Server) runnerAction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	actions := map[string]func(string) error{
		ActionOnline: s.gh.SetOnline, ActionOffline: s.gh.SetOffline, ActionStart: s.gh.StartJob,
		ActionFinish: s.gh.FinishJob, ActionRemove: s.gh.RemoveRunner,
	}
	act, ok := actions[r.PathValue("action")]
	if !ok {
		fail(w, http.StatusNotFound, fmt.Errorf("unknown runner action %q", r.PathValue("action")))
		return
	}
	if err := act(name); err != nil {
		fail(w, http.StatusConflict, err)
		return
	}
	s.log.Info("runner "+r.PathValue("action"), "runner", name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) exitRunner(w http.ResponseWriter, r *http.Request) {
	var req ExitRequest
	if !decode(w, r, &req) {
		return
	}
	if s.agent == nil {
		fail(w, http.StatusConflict, errors.New("no agent: start the fake with --kubeconfig"))
		return
	}
	if err := s.agent.exit(r.Context(), r.PathValue("name"), req.Code); err != nil {
		fail(w, http.StatusConflict, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) queueJobs(w http.ResponseWriter, r *http.Request) {
	var req QueueRequest
	if !decode(w, r, &req) {
		return
	}
	resp, err := s.jobs.queue(r.Context(), req)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	reply(w, http.StatusOK, resp)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("job ID %q is not a number", r.PathValue("id")))
		return
	}
	j, ok := s.jobs.get(id)
	if !ok {
		fail(w, http.StatusNotFound, fmt.Errorf("no job %d", id))
		return
	}
	reply(w, http.StatusOK, j)
}

func (s *Server) releaseJobs(w http.ResponseWriter, r *http.Request) {
	var req ReleaseRequest
	if !decode(w, r, &req) {
		return
	}
	d := time.Duration(0)
	if req.Duration != "" {
		var err error
		if d, err = time.ParseDuration(req.Duration); err != nil || d < 0 {
			fail(w, http.StatusBadRequest, fmt.Errorf("duration %q is not a positive Go duration", req.Duration))
			return
		}
	}
	n := s.jobs.release(d)
	s.log.Info("held jobs released", "count", n, "duration", d.String())
	reply(w, http.StatusOK, map[string]int{"released": n})
}

func (s *Server) sendWebhook(w http.ResponseWriter, r *http.Request) {
	var req WebhookRequest
	if !decode(w, r, &req) {
		return
	}
	reply(w, http.StatusOK, s.deliver(r.Context(), req.Action, Job{ID: req.JobID, Labels: req.Labels, Runner: req.Runner}))
}

func (s *Server) listDeliveries(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, nonNil(s.gh.Deliveries(s.app.ID)))
}

func (s *Server) calls(w http.ResponseWriter, _ *http.Request) {
	out := map[string]int{"total": s.gh.TotalCalls()}
	for _, e := range countedEndpoints() {
		out[e] = s.gh.CallCount(e)
	}
	reply(w, http.StatusOK, out)
}

// decode reads a JSON body into v (an empty body leaves v zero); false when it answered 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("reading the request: %w", err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	reply(w, status, map[string]string{"error": err.Error()})
}
