package autoscale

import (
	"encoding/json"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

// Secrets of the tenancy specs: the platform's global secret, and one per tenant class.
const (
	globalSecret = "global-secret"
	acmeSecret   = "acme-secret"
	globexSecret = "globex-secret"
)

// tenants is one receiver shared by two tenants, each with its RunnerClass, plus
// class-less pools. Organization names carry the namespace so specs never share jobs.
//   - class ACME serves organization NS-acme; its webhook secret is the key
//     webhook-secret-acme of the global Secret (where an old receiver accepted it as the
//     one secret for everything); its App installation is 100.
//   - class GLOBEX serves NS-globex; its secret is in a Secret of its own; installation 200.
//   - pools: acme-org (ACME, NS-acme), globex-org (GLOBEX, NS-globex), globex-repo (GLOBEX,
//     claiming the repository NS-acme/app: a narrower scope than acme-org), plain-repo
//     (class-less, NS-acme/app too) and initech (class-less, NS-initech).
type tenants struct {
	ns, acmeOrg, globexOrg, initechOrg string
	pools                              map[string]types.NamespacedName
	m                                  *runningManager
}

func newTenants() *tenants { return newTenantsAs(nil) }

// newTenantsAs is newTenants whose receiver talks to the API server as the user of
// userConfig (of namespace NS; nil: an admin), once that user can read the global Secret.
func newTenantsAs(userConfig func(ns string) *rest.Config) *tenants {
	ns := newNamespace()
	t := &tenants{ns: ns, acmeOrg: ns + "-acme", globexOrg: ns + "-globex", initechOrg: ns + "-initech", pools: map[string]types.NamespacedName{}}
	createSecret(ns, "webhook", map[string]string{SecretKeyPrefix: globalSecret, SecretKeyPrefix + "-acme": acmeSecret})
	createSecret(ns, "globex-webhook", map[string]string{"webhook-secret": globexSecret})
	createSecret(ns, "acme-app", map[string]string{"app-id": "1", "installation-id": "100", "private-key": "never read"})
	createSecret(ns, "globex-app", map[string]string{"app-id": "2", "installation-id": "200", "private-key": "never read"})
	createClass(gen.RunnerClass(ns+"-acme", gen.WithClassOrganizations(t.acmeOrg), gen.WithClassCredentials("acme-app"),
		gen.WithClassWebhookSecret("webhook", SecretKeyPrefix+"-acme")), 100)
	createClass(gen.RunnerClass(ns+"-globex", gen.WithClassOrganizations(t.globexOrg), gen.WithClassCredentials("globex-app"),
		gen.WithClassWebhookSecret("globex-webhook", "webhook-secret")), 200)
	for name, mods := range map[string][]gen.PoolModifier{
		"acme-org":    {gen.WithClass(ns + "-acme"), gen.WithURL("https://github.com/" + t.acmeOrg)},
		"globex-org":  {gen.WithClass(ns + "-globex"), gen.WithURL("https://github.com/" + t.globexOrg)},
		"globex-repo": {gen.WithClass(ns + "-globex"), gen.WithURL("https://github.com/" + t.acmeOrg + "/app")},
		"plain-repo":  {gen.WithURL("https://github.com/" + t.acmeOrg + "/app")},
		"initech":     {gen.WithURL("https://github.com/" + t.initechOrg)},
	} {
		t.pools[name] = createPool(ns, name, mods...)
	}
	opts := Options{SecretRef: types.NamespacedName{Namespace: ns, Name: "webhook"}, OperatorNamespace: ns}
	if userConfig == nil {
		t.m = startManager(opts)
		return t
	}
	t.m = startManagerAs(userConfig(ns), opts, nil)
	return t
}

// createSecret creates a Secret with string data.
func createSecret(ns, name string, data map[string]string) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	Expect(k8s.Create(ctx, s)).To(Succeed())
}

// createClass creates a cluster-scoped RunnerClass, deleted after the spec, and publishes
// its App installation in its status as the controller does.
func createClass(c *corralv1.RunnerClass, installation int64) {
	c.Generation = 0
	Expect(k8s.Create(ctx, c)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, c))).To(Succeed()) })
	c.Status.Credentials = &corralv1.ClassCredentials{Kind: "App", AppID: installation / 100, InstallationID: installation}
	Expect(k8s.Status().Update(ctx, c)).To(Succeed())
}

// send delivers a workflow_job of repo (through App installation inst; 0: an
// organization webhook) signed with secret and returns the status and the answer.
func (t *tenants) send(secret, guid, action, repo string, id int64, runner string, inst int64) (int, answer) {
	payload := githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: action, ID: id, RunnerName: runner,
		Labels: []string{"self-hosted", "linux"}, Repository: repo, InstallationID: inst})
	status, body := t.m.sendSigned(secret, "workflow_job", guid, payload, false)
	var a answer
	_ = json.Unmarshal([]byte(body), &a)
	return status, a
}

// recorded returns every pool's jobs that have an entry for job id.
func (t *tenants) recorded(id int64) map[string]string {
	out := map[string]string{}
	for name, key := range t.pools {
		if state, ok := jobsOf(key)[id]; ok {
			out[name] = state
		}
	}
	return out
}

// runnerOf is a runner name of pool.
func (t *tenants) runnerOf(pool string) string {
	p := getPool(t.pools[pool])
	return github.RunnerNamePrefix(p.Name, p.UID) + "abcde"
}

var _ = Describe("a webhook receiver shared by tenants", func() {
	var t *tenants
	BeforeEach(func() { t = newTenants() })

	It("refuses a delivery for another tenant's organization signed with a tenant's own secret, and records nothing", func() {
		status, a := t.send(acmeSecret, "forged-1", "queued", t.globexOrg+"/app", 1, "", 0)
		Expect(status).To(Equal(http.StatusUnauthorized))
		Expect(a.Outcome).To(Equal(outcomeScopeRefused))
		Expect(a.Message).To(ContainSubstring("does not serve repository " + t.globexOrg + "/app"))
		Expect(t.recorded(1)).To(BeEmpty())
		Expect(t.m.metric("corral_webhook_deliveries_total", map[string]string{"outcome": outcomeScopeRefused})).To(Equal(1.0))
	})

	It("does not route a delivery signed with the global secret to a class's pool", func() {
		// Only acme-org's scope holds NS-acme/web: the global secret may not reach it.
		status, a := t.send(globalSecret, "global-1", "queued", t.acmeOrg+"/web", 2, "", 0)
		Expect(status).To(Equal(http.StatusOK))
		Expect(a.Outcome).To(Equal(outcomeUnmatched))
		Expect(t.recorded(2)).To(BeEmpty())
	})

	It("does not let a repository pool of another class capture a class's job", func() {
		status, _ := t.send(acmeSecret, "acme-1", "queued", t.acmeOrg+"/app", 3, "", 0)
		Expect(status).To(Equal(http.StatusAccepted))
		Expect(t.recorded(3)).To(Equal(map[string]string{"acme-org": "Queued/"}), "not globex-repo nor plain-repo")
	})

	It("refuses an App delivery through another tenant's installation", func() {
		status, a := t.send(acmeSecret, "app-1", "queued", t.acmeOrg+"/app", 4, "", 200)
		Expect(status).To(Equal(http.StatusUnauthorized))
		Expect(a.Outcome).To(Equal(outcomeInstallationRefused))
		Expect(t.recorded(4)).To(BeEmpty())
	})

	It("does not mark another class's runner busy on an in_progress signed with a tenant's secret", func() {
		status, _ := t.send(acmeSecret, "busy-1", "in_progress", t.acmeOrg+"/app", 5, t.runnerOf("globex-repo"), 0)
		Expect(status).To(Equal(http.StatusAccepted))
		Expect(DemandOf(getPool(t.pools["globex-repo"]), time.Now(), DefaultDemandTTL).BusyRunners).To(BeEmpty())
		// The tenant's own pool learns that a runner not its own took the job.
		Expect(t.recorded(5)).To(Equal(map[string]string{"acme-org": "Completed/"}))
	})

	It("still scales each pool from a valid delivery of each kind", func() {
		for _, d := range []struct {
			secret, guid, repo, pool string
			id, inst                 int64
		}{
			{acmeSecret, "app", t.acmeOrg + "/app", "acme-org", 10, 100},              // the class's App
			{acmeSecret, "org-hook", t.acmeOrg + "/web", "acme-org", 11, 0},           // an organization webhook
			{globexSecret, "own-secret", t.globexOrg + "/app", "globex-org", 12, 200}, // a class Secret of its own
			{globalSecret, "classless", t.initechOrg + "/app", "initech", 13, 0},      // the global secret
		} {
			status, a := t.send(d.secret, d.guid, "queued", d.repo, d.id, "", d.inst)
			Expect(status).To(Equal(http.StatusAccepted), "%s: %+v", d.guid, a)
			Expect(t.recorded(d.id)).To(Equal(map[string]string{d.pool: "Queued/"}), d.guid)
		}
		runner := t.runnerOf("acme-org")
		status, a := t.send(acmeSecret, "run", "in_progress", t.acmeOrg+"/app", 10, runner, 100)
		Expect(status).To(Equal(http.StatusAccepted), "%+v", a)
		Expect(DemandOf(getPool(t.pools["acme-org"]), time.Now(), DefaultDemandTTL).BusyRunners).To(HaveKey(runner))
	})
})
