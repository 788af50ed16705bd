package githubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

const maxRequestBody = 1 << 20

type labelJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type runnerJSON struct {
	ID            int64       `json:"id"`
	Name          string      `json:"name"`
	OS            string      `json:"os"`
	Status        string      `json:"status"`
	Busy          bool        `json:"busy"`
	Ephemeral     bool        `json:"ephemeral"`
	RunnerGroupID int64       `json:"runner_group_id"`
	Labels        []labelJSON `json:"labels"`
}

func toJSON(r *runner) runnerJSON {
	status := "offline"
	if r.Online {
		status = "online"
	}
	labels := []labelJSON{{ID: 1, Name: "self-hosted", Type: "read-only"}}
	for i, l := range r.Labels {
		labels = append(labels, labelJSON{ID: int64(i + 2), Name: l, Type: "custom"})
	}
	return runnerJSON{
		ID: r.ID, Name: r.Name, OS: "Linux", Status: status, Busy: r.Busy, Ephemeral: r.Ephemeral,
		RunnerGroupID: r.GroupID, Labels: labels,
	}
}

type jitResponse struct {
	Runner           runnerJSON `json:"runner"`
	EncodedJITConfig string     `json:"encoded_jit_config"`
}

func invalid(format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, message: "Invalid request.\n\n" + fmt.Sprintf(format, args...),
		docURL: "https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization"}
}

// jitRequest is a decoded generate-jitconfig body.
type jitRequest struct {
	name       string
	groupID    int64
	labels     []string
	workFolder string
}

// parseJITRequest validates a generate-jitconfig body the way GitHub does: name,
// runner_group_id and labels (1 to 100 non-empty strings) are required.
func parseJITRequest(body io.Reader) (jitRequest, *apiError) {
	var fields map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(body, maxRequestBody)).Decode(&fields); err != nil {
		return jitRequest{}, &apiError{status: http.StatusBadRequest, message: "Problems parsing JSON"}
	}
	var req jitRequest
	for _, key := range []string{"name", "runner_group_id", "labels"} {
		if v, ok := fields[key]; !ok || string(v) == "null" {
			return req, invalid("%q wasn't supplied.", key)
		}
	}
	if json.Unmarshal(fields["name"], &req.name) != nil || req.name == "" {
		return req, invalid("For 'properties/name', %s is not a non-empty string.", fields["name"])
	}
	if json.Unmarshal(fields["runner_group_id"], &req.groupID) != nil {
		return req, invalid("For 'properties/runner_group_id', %s is not an integer.", fields["runner_group_id"])
	}
	if json.Unmarshal(fields["labels"], &req.labels) != nil {
		return req, invalid("For 'properties/labels', %s is not an array of strings.", fields["labels"])
	}
	if n := len(req.labels); n < 1 || n > 100 {
		return req, invalid("For 'properties/labels', %s should contain between 1 and 100 item(s).", fields["labels"])
	}
	for _, l := range req.labels {
		if strings.TrimSpace(l) == "" {
			return req, invalid("For 'items', %q is not a valid label.", l)
		}
	}
	if v, ok := fields["work_folder"]; ok && string(v) != "null" {
		if json.Unmarshal(v, &req.workFolder) != nil {
			return req, invalid("For 'properties/work_folder', %s is not a string.", v)
		}
	}
	return req, nil
}

// handleJIT is POST .../actions/runners/generate-jitconfig.
func (s *Server) handleJIT(w http.ResponseWriter, r *http.Request, _ *principal, sc Scope) {
	req, e := parseJITRequest(r.Body)
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	st := s.scopeLocked(sc)
	if !st.hasGroup(req.groupID, sc) {
		s.mu.Unlock()
		writeError(w, errNotFound)
		return
	}
	for _, existing := range st.runners {
		if existing.Name == req.name {
			s.mu.Unlock()
			writeError(w, &apiError{status: http.StatusConflict,
				message: fmt.Sprintf("Already exists - A runner with the name %s already exists.", req.name)})
			return
		}
	}
	rn := &runner{Runner{
		ID: s.nextIDLocked(), Name: req.name, Scope: sc, GroupID: req.groupID, Labels: req.labels,
		Ephemeral: true, WorkDir: req.workFolder, CreatedAt: s.nowLocked(),
	}}
	st.runners[rn.ID] = rn
	resp := jitResponse{Runner: toJSON(rn), EncodedJITConfig: encodeJITConfig(rn)}
	s.registeredLocked(rn, ViaJIT)
	s.history.jitConfigs = append(s.history.jitConfigs, resp.EncodedJITConfig)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, resp)
}

func (st *scopeState) hasGroup(id int64, sc Scope) bool {
	if sc.kind() == "repos" {
		return id == DefaultRunnerGroupID
	}
	for _, g := range st.groups {
		if g.id == id {
			return true
		}
	}
	return false
}

// handleListRunners is GET .../actions/runners, with the name filter and pagination.
func (s *Server) handleListRunners(w http.ResponseWriter, r *http.Request, _ *principal, sc Scope) {
	name := r.URL.Query().Get("name")
	s.mu.Lock()
	hook, perPage := s.onPage, s.perPage
	if perPage == 0 {
		perPage = s.opts.RunnersPerPage
	}
	s.mu.Unlock()
	if hook != nil {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		hook(sc, max(page, 1))
	}
	s.mu.Lock()
	var all []runnerJSON
	for _, rn := range s.scopeLocked(sc).runners {
		if name == "" || rn.Name == name {
			all = append(all, toJSON(rn))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	from, to := paginate(w, r, len(all), perPage)
	writeJSON(w, http.StatusOK, struct {
		TotalCount int          `json:"total_count"`
		Runners    []runnerJSON `json:"runners"`
	}{len(all), append([]runnerJSON{}, all[from:to]...)})
}

func (s *Server) lookupRunner(r *http.Request, sc Scope) (*scopeState, *runner) {
	id, err := strconv.ParseInt(r.PathValue("runner_id"), 10, 64)
	if err != nil {
		return nil, nil
	}
	st := s.scopeLocked(sc)
	return st, st.runners[id]
}

// handleGetRunner is GET .../actions/runners/{runner_id}.
func (s *Server) handleGetRunner(w http.ResponseWriter, r *http.Request, _ *principal, sc Scope) {
	s.mu.Lock()
	_, rn := s.lookupRunner(r, sc)
	if rn == nil {
		s.mu.Unlock()
		writeError(w, errNotFound)
		return
	}
	body := toJSON(rn)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// handleDeleteRunner is DELETE .../actions/runners/{runner_id}: 204, 422 while the runner
// runs a job, 404 when it is gone.
func (s *Server) handleDeleteRunner(w http.ResponseWriter, r *http.Request, _ *principal, sc Scope) {
	s.mu.Lock()
	st, rn := s.lookupRunner(r, sc)
	switch {
	case rn == nil:
		s.mu.Unlock()
		writeError(w, errNotFound)
	case rn.Busy:
		name := rn.Name
		s.mu.Unlock()
		writeError(w, &apiError{status: http.StatusUnprocessableEntity,
			message: fmt.Sprintf("Bad request - Runner %q is still running a job", name)})
	default:
		s.removeLocked(st, rn, RemovedByAPI)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

type groupJSON struct {
	ID                       int64    `json:"id"`
	Name                     string   `json:"name"`
	Visibility               string   `json:"visibility"`
	Default                  bool     `json:"default"`
	Inherited                bool     `json:"inherited"`
	AllowsPublicRepositories bool     `json:"allows_public_repositories"`
	RestrictedToWorkflows    bool     `json:"restricted_to_workflows"`
	SelectedWorkflows        []string `json:"selected_workflows"`
}

// handleListGroups is GET /orgs/{org}/actions/runner-groups (and the enterprise one).
func (s *Server) handleListGroups(w http.ResponseWriter, r *http.Request, _ *principal, sc Scope) {
	s.mu.Lock()
	var all []groupJSON
	for _, g := range s.scopeLocked(sc).groups {
		all = append(all, groupJSON{ID: g.id, Name: g.name, Visibility: "all", Default: g.isDefault, SelectedWorkflows: []string{}})
	}
	s.mu.Unlock()
	from, to := paginate(w, r, len(all), 0)
	writeJSON(w, http.StatusOK, struct {
		TotalCount   int         `json:"total_count"`
		RunnerGroups []groupJSON `json:"runner_groups"`
	}{len(all), append([]groupJSON{}, all[from:to]...)})
}

// paginate reads per_page (default 30, at most 100) and page (default 1), sets GitHub's
// Link header and returns the slice bounds of the requested page.
func paginate(w http.ResponseWriter, r *http.Request, total, maxPerPage int) (from, to int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	if maxPerPage > 0 {
		perPage = min(perPage, maxPerPage)
	}
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max(1, (total+perPage-1)/perPage)
	link := func(p int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		if r.TLS != nil {
			u.Scheme = "https"
		}
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("per_page", strconv.Itoa(perPage))
		v.Set("page", strconv.Itoa(p))
		u.RawQuery = v.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	from = min((page-1)*perPage, total)
	return from, min(from+perPage, total)
}
