package autoscale

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// fixedSigners is a keyring of given signers.
type fixedSigners []signer

func (k fixedSigners) Signers(context.Context) []signer { return k }
func (fixedSigners) Refresh()                           {}

// signedJob is a queued delivery of a job of repo (through App installation inst, 0 for
// none) signed with secret.
func signedJob(secret string, guid, repo string, id, inst int64) delivery {
	body := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "queued", ID: id, Labels: []string{"self-hosted"},
		Repository: repo, InstallationID: inst})
	return delivery{event: "workflow_job", guid: guid, body: body, signature: Sign([]byte(secret), body)}
}

// tenantKeys are the global secret and the secrets of classes acme (installation 100)
// and globex (installation 200).
func tenantKeys() fixedSigners {
	acme, globex := tenantClasses()
	return fixedSigners{
		{secret: []byte("global-secret")},
		{secret: []byte("acme-secret"), class: acme, install: installation{kind: credentialsApp, id: 100}},
		{secret: []byte("globex-secret"), class: globex, install: installation{kind: credentialsApp, id: 200}},
	}
}

func TestHandlerRefusesADeliveryForAnotherTenantsOrganizationSignedWithItsOwnSecret(t *testing.T) {
	events := &recordingRecorder{}
	h, m := newTestHandler(events, tenantKeys())
	rec := signedJob("acme-secret", "g-1", "globex/app", 1, 0).send(h)
	var a answer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	if rec.Code != http.StatusUnauthorized || a.Outcome != outcomeScopeRefused {
		t.Fatalf("%d %+v, want 401 %s", rec.Code, a, outcomeScopeRefused)
	}
	if len(events.got()) != 0 {
		t.Error("the forged delivery was offered to the demand store")
	}
	if v := testutil.ToFloat64(m.deliveries.WithLabelValues("workflow_job", "queued", outcomeScopeRefused)); v != 1 {
		t.Errorf("%s counted %v times, want 1", outcomeScopeRefused, v)
	}
}

func TestHandlerRefusesAnAppDeliveryThroughAForeignInstallation(t *testing.T) {
	events := &recordingRecorder{}
	h, _ := newTestHandler(events, tenantKeys())
	rec := signedJob("acme-secret", "g-1", "acme/app", 1, 200).send(h)
	var a answer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	if rec.Code != http.StatusUnauthorized || a.Outcome != outcomeInstallationRefused || len(events.got()) != 0 {
		t.Fatalf("%d %+v (%d events), want 401 %s and nothing recorded", rec.Code, a, len(events.got()), outcomeInstallationRefused)
	}
}

func TestHandlerPassesWhoVouchedToTheDemandStore(t *testing.T) {
	events := &recordingRecorder{}
	h, _ := newTestHandler(events, tenantKeys())
	for _, d := range []delivery{
		signedJob("acme-secret", "g-1", "acme/app", 1, 100),
		signedJob("acme-secret", "g-2", "acme/app", 2, 0), // an organization webhook
		signedJob("global-secret", "g-3", "acme/app", 3, 0),
	} {
		if rec := d.send(h); rec.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", d.guid, rec.Code, rec.Body)
		}
	}
	got := events.got()
	if got[0].Vouch.key() != (Vouch{Classes: []string{"acme"}}).key() || got[1].Vouch.key() != got[0].Vouch.key() ||
		got[2].Vouch.key() != classless.key() {
		t.Errorf("vouches %+v, %+v, %+v", got[0].Vouch, got[1].Vouch, got[2].Vouch)
	}
}

// A tenant cannot pre-empt another's job by sending its ID first: the dedupe keys name who
// vouched (and the repository), so the genuine delivery is no duplicate.
func TestHandlerDoesNotTakeAnotherTenantsJobForADuplicate(t *testing.T) {
	events := &recordingRecorder{}
	h, _ := newTestHandler(events, tenantKeys())
	if rec := signedJob("globex-secret", "g-1", "globex/app", 42, 0).send(h); rec.Code != http.StatusAccepted {
		t.Fatalf("globex's delivery: %d", rec.Code)
	}
	if rec := signedJob("acme-secret", "g-1", "acme/app", 42, 0).send(h); rec.Code != http.StatusAccepted {
		t.Fatalf("acme's genuine delivery of job 42 (same GUID): %d %s, want 202", rec.Code, rec.Body)
	}
	if n := len(events.got()); n != 2 {
		t.Errorf("%d events recorded, want 2", n)
	}
}
