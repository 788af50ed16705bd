package autoscale

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("the webhook receiver", func() {
	var (
		ns     string
		secret types.NamespacedName
	)
	BeforeEach(func() {
		ns = newNamespace()
		secret = createWebhookSecret(ns, "previous-secret", string(testSecret))
	})

	demand := func(key types.NamespacedName) func() Demand {
		return func() Demand { return DemandOf(getPool(key), time.Now(), DefaultDemandTTL) }
	}

	It("turns deliveries into demand, once each, and keeps it across a restart", func() {
		builders := createPool(ns, "builders", gen.WithLabels("podman"))
		gpu := createPool(ns, "gpu", gen.WithLabels("podman", "gpu"))
		m := startManager(Options{SecretRef: secret})

		for i := range 30 {
			// Half of them form-encoded, as organization webhooks send by default.
			Expect(m.send("workflow_job", fmt.Sprintf("q-%d", i), job(ns, "queued", int64(i+1), "", "self-hosted", "Podman"), i%2 == 0)).
				To(Equal(http.StatusAccepted))
		}
		for i := range 5 {
			Expect(m.send("workflow_job", fmt.Sprintf("q-%d", i), job(ns, "queued", int64(i+1), ""), false)).To(Equal(http.StatusOK), "redelivery")
		}
		Expect(m.send("workflow_job", "via-org-hook", job(ns, "queued", 1, ""), false)).To(Equal(http.StatusOK), "same job, other webhook")
		status, _, err := githubtest.SendWebhook(ctx, http.DefaultClient, m.url, githubtest.WebhookRequest{Event: "workflow_job", Payload: job(ns, "queued", 999, "")})
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(http.StatusUnauthorized), "unsigned")
		Expect(m.send("workflow_job", "gpu-1", job(ns, "queued", 50, "", "gpu"), false)).To(Equal(http.StatusAccepted))

		// No pool matches: nothing to record, and nothing for GitHub to retry.
		Expect(m.send("workflow_job", "win-1", job(ns, "queued", 60, "", "self-hosted", "windows"), false)).To(Equal(http.StatusOK))

		Eventually(demand(builders)).Should(HaveField("Queued", int32(30)))
		Eventually(demand(gpu)).Should(HaveField("Queued", int32(1)))
		Expect(jobsOf(builders)).NotTo(HaveKey(int64(999)))
		Eventually(func() float64 {
			return m.metric("corral_webhook_job_events_total", map[string]string{"result": resultUnmatched})
		}).Should(Equal(1.0))
		Expect(jobsOf(builders)).NotTo(HaveKey(int64(60)))
		Expect(jobsOf(gpu)).NotTo(HaveKey(int64(60)))
		Eventually(func() float64 { return m.metric("corral_webhook_backlog", nil) }).Should(BeZero())

		// Out of order: completed before queued leaves no demand.
		Expect(m.send("workflow_job", "c-100", job(ns, "completed", 100, ""), false)).To(Equal(http.StatusAccepted))
		Eventually(func() map[int64]string { return jobsOf(builders) }).Should(HaveKeyWithValue(int64(100), "Completed/"))
		Expect(m.send("workflow_job", "q-100", job(ns, "queued", 100, ""), false)).To(Equal(http.StatusAccepted))
		Consistently(demand(builders)).WithTimeout(time.Second).Should(HaveField("Queued", int32(30)))
		Expect(jobsOf(builders)[100]).To(Equal("Completed/"))

		Expect(m.metric("corral_webhook_deliveries_total", map[string]string{"event": "workflow_job", "action": "queued", "outcome": outcomeDuplicate})).To(Equal(6.0))
		m.stop()

		// Another replica (or the same after a restart) picks up where the first left off.
		m2 := startManager(Options{SecretRef: secret})
		runner := func(i int) string {
			return github.RunnerNamePrefix("builders", getPool(builders).UID) + fmt.Sprintf("run%02d", i)
		}
		for i := range 10 {
			Expect(m2.send("workflow_job", fmt.Sprintf("p-%d", i), job(ns, "in_progress", int64(i+1), runner(i)), false)).To(Equal(http.StatusAccepted))
		}
		for i := range 5 {
			Expect(m2.send("workflow_job", fmt.Sprintf("c-%d", i), job(ns, "completed", int64(i+1), runner(i)), false)).To(Equal(http.StatusAccepted))
		}
		// Acknowledged means recorded: no need to wait.
		Expect(demand(builders)()).To(And(HaveField("Queued", int32(20)), HaveField("BusyRunners", HaveLen(5))))
		Expect(demand(builders)().BusyRunners).To(HaveKey(runner(9)))
		// A job taken by a runner that is not the pool's leaves the queue and makes no
		// runner of the pool busy.
		Expect(m2.send("workflow_job", "p-foreign", job(ns, "in_progress", 11, "someone-elses-runner"), false)).To(Equal(http.StatusAccepted))
		Expect(demand(builders)()).To(And(HaveField("Queued", int32(19)), HaveField("BusyRunners", HaveLen(5))))

		// Every replica reports the pools' demand from its cache.
		Eventually(func() (float64, error) { return gaugeValue(m2, "corral_pool_queued_jobs", ns, "builders") }).Should(Equal(19.0))
	})

	It("answers 503 while its Secret is missing and picks up a rotated secret", func(SpecContext) {
		pool := createPool(ns, "builders")
		m := startManager(Options{SecretRef: types.NamespacedName{Namespace: ns, Name: "not-yet"}})
		Expect(m.send("workflow_job", "x", job(ns, "queued", 1, ""), false)).To(Equal(http.StatusServiceUnavailable))
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "not-yet"}, Data: map[string][]byte{SecretKeyPrefix: []byte("first")}}
		Expect(k8s.Create(ctx, s)).To(Succeed())
		sendWith := func(secret string) func() int {
			return func() int {
				st, _, _ := githubtest.SendWebhook(ctx, http.DefaultClient, m.url, githubtest.WebhookRequest{
					Event: "workflow_job", Payload: job(ns, "queued", 7, ""), Secret: secret,
				})
				return st
			}
		}
		// A signature mismatch makes the receiver re-read the Secret within seconds.
		Eventually(sendWith("first")).WithPolling(time.Second).Should(Equal(http.StatusAccepted))
		Eventually(demand(pool)).Should(HaveField("Queued", int32(1)))
	}, SpecTimeout(time.Minute))

	It("recovers a delivery that failed while Corral was down", func(sctx SpecContext) {
		pool := createPool(ns, "builders")
		srv := githubtest.NewServer(githubtest.Options{})
		defer srv.Close()
		app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: appKey(GinkgoT())})
		srv.SetAppWebhook(app.ID, githubtest.AppWebhook{URL: "http://" + freeAddr() + DefaultPath, Secret: string(testSecret)})
		failed := srv.DeliverAppEvent(sctx, app.ID, "workflow_job", job(ns, "queued", 500, ""))
		Expect(failed.Succeeded()).To(BeFalse())

		data := app.SecretData()
		data[KeyCABundle] = srv.CACertPEM()
		creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "github-app"}, Data: data}
		Expect(k8s.Create(ctx, creds)).To(Succeed())
		m := startManager(Options{SecretRef: secret, Recovery: RecoveryOptions{
			CredentialsRef: types.NamespacedName{Namespace: ns, Name: "github-app"}, GitHubURL: srv.URL(), Interval: time.Second,
		}})

		Eventually(func() map[int64]string { return jobsOf(pool) }).Should(HaveKeyWithValue(int64(500), "Queued/"))
		Expect(srv.CallCount(githubtest.EndpointAppHookDelivery)).To(Equal(1))
		Eventually(func() float64 {
			return m.metric("corral_webhook_recovered_deliveries_total", map[string]string{"result": "replayed"})
		}).Should(Equal(1.0))
	}, SpecTimeout(time.Minute))
})

// metric is the value of the counter or gauge series name{labels} registered by
// AddToManager.
func (m *runningManager) metric(name string, labels map[string]string) float64 {
	families, err := m.registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue series
				}
			}
			if s.GetGauge() != nil {
				return s.GetGauge().GetValue()
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// gaugeValue reads a pool gauge of the demand collector.
func gaugeValue(m *runningManager, name, ns, pool string) (float64, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			var got []string
			for _, l := range s.GetLabel() {
				got = append(got, l.GetValue())
			}
			if strings.Join(got, "/") == ns+"/"+pool {
				return s.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("no %s for %s/%s", name, ns, pool)
}
