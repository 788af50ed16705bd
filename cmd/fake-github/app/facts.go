package app

import "net/http"

// The control API's read-only views of what the fake saw, for suites that check Corral
// against GitHub's side of the story: every job, every registration (and when its pod
// existed), every request and fault answer, every secret handed out.

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	st := Stats{Registrations: map[string]int{}, Removed: map[string]int{}, FaultAnswers: s.gh.FaultAnswers(),
		Requests: s.gh.TotalCalls(), RunnerPages: s.pages.Load(), RunnerLaterPages: s.later.Load(),
		TokenMints: map[int64]int{}, RateLimited: s.gh.RateLimited()}
	for _, a := range s.apps {
		st.TokenMints[a.InstallationID] = s.gh.TokenMints(a.InstallationID)
	}
	for _, j := range s.jobs.list() {
		switch j.State {
		case JobQueued:
			st.JobsQueued++
		case JobInProgress:
			st.JobsInProgress++
		case JobCompleted:
			st.JobsCompleted++
		}
		if j.Lost {
			st.JobsLost++
		}
	}
	for _, r := range s.gh.Registrations() {
		st.Registrations[r.Via]++
		if r.RemovedBy == "" {
			st.RegistrationsLive++
		} else {
			st.Removed[r.RemovedBy]++
		}
	}
	for _, d := range s.gh.Deliveries(s.app.ID) {
		st.Deliveries++
		if !d.Succeeded() {
			st.DeliveriesFailed++
		}
	}
	reply(w, http.StatusOK, st)
}

func (s *Server) listRegistrations(w http.ResponseWriter, _ *http.Request) {
	regs := s.gh.Registrations()
	out := make([]RegistrationRecord, 0, len(regs))
	for _, r := range regs {
		rec := RegistrationRecord{Registration: r}
		if s.agent != nil {
			t := s.agent.podTimesOf(r.Name)
			rec.PodSeenAt, rec.PodGoneAt = t.seen, t.gone
		}
		out = append(out, rec)
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) secrets(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, IssuedSecrets{
		Tokens: nonNil(s.gh.IssuedTokens()), JITConfigs: nonNil(s.gh.IssuedJITConfigs()),
		PrivateKeyPEM: string(s.app.PrivateKeyPEM), WebhookSecret: s.secret,
	})
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
