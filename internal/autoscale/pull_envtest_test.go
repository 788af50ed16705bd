package autoscale

import (
	"net/http"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// Pull mode needs no inbound connection: GitHub logs every delivery it could not make to
// the App's webhook URL (which may lead nowhere), and the leader reads the log.
var _ = Describe("pull mode", func() {
	It("learns every event with no receiver, beside a webhook-fed pool, and keeps its progress across a restart", func(sctx SpecContext) {
		ns := newNamespace()
		pulled := createPool(ns, "builders")
		srv := githubtest.NewServer(githubtest.Options{})
		defer srv.Close()
		app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: appKey(GinkgoT())})
		srv.SetAppWebhook(app.ID, githubtest.AppWebhook{URL: "http://" + freeAddr() + DefaultPath})
		for id := int64(1); id <= 3; id++ {
			Expect(srv.DeliverAppEvent(sctx, app.ID, "workflow_job", job(ns, "queued", id, "")).Succeeded()).To(BeFalse())
		}
		data := app.SecretData()
		data[KeyCABundle] = srv.CACertPEM()
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "github-app"}, Data: data})).To(Succeed())

		// Another team's pool is fed by webhooks, through the same process's receiver.
		webNS := newNamespace()
		fed := createPool(webNS, "web")
		opts := Options{SecretRef: createWebhookSecret(webNS, string(testSecret)), Pull: PullOptions{
			CredentialsRefs: []types.NamespacedName{{Namespace: ns, Name: "github-app"}}, GitHubURL: srv.URL(), Interval: time.Second,
		}}
		m := startManager(opts)

		Eventually(func() map[int64]string { return jobsOf(pulled) }).Should(Equal(map[int64]string{1: "Queued/", 2: "Queued/", 3: "Queued/"}))
		Expect(m.send("workflow_job", "web-1", job(webNS, "queued", 100, ""), false)).To(Equal(http.StatusAccepted))
		Expect(jobsOf(fed)).To(Equal(map[int64]string{100: "Queued/"}))
		srv.DeliverAppEvent(sctx, app.ID, "workflow_job", job(ns, "in_progress", 1, "builders-abc"))
		srv.DeliverAppEvent(sctx, app.ID, "workflow_job", job(ns, "completed", 2, "builders-def"))
		// Taken by a runner of no pool here: no longer this pool's demand.
		Eventually(func() string { return jobsOf(pulled)[1] }).ShouldNot(Equal("Queued/"))
		Eventually(func() string { return jobsOf(pulled)[2] }).Should(HavePrefix("Completed/"))
		Eventually(func() float64 {
			return m.metric("corral_webhook_pulled_deliveries_total", map[string]string{"result": "applied"})
		}).Should(Equal(5.0))

		// Stopping saves the progress beside the App's Secret.
		m.stop()
		logged := srv.Deliveries(app.ID)
		var cm corev1.ConfigMap
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "corral-pull-github-app"}, &cm)).To(Succeed())
		Expect(cm.Data[pullKeyAfter]).To(Equal(strconv.FormatInt(logged[len(logged)-1].ID, 10)))
		Expect(cm.Data[pullKeyApp]).To(Equal(strconv.FormatInt(app.ID, 10) + "@" + srv.URL()))

		// A job queued while no leader ran is taken by the next one, and only it is fetched.
		srv.DeliverAppEvent(sctx, app.ID, "workflow_job", job(ns, "queued", 4, ""))
		opts.SecretRef = types.NamespacedName{}
		startManager(opts)
		Eventually(func() string { return jobsOf(pulled)[4] }).Should(Equal("Queued/"))
		for _, d := range srv.Deliveries(app.ID) {
			Expect(d.Fetched).To(Equal(1), "delivery %d (%s) fetched %d times", d.ID, d.Action, d.Fetched)
		}
		Expect(jobsOf(fed)).To(Equal(map[int64]string{100: "Queued/"}), "the pull touched the webhook-fed pool")
	}, SpecTimeout(2*time.Minute))

	It("pulls several Apps side by side, each with its own progress, on the leader only", func(sctx SpecContext) {
		srv := githubtest.NewServer(githubtest.Options{})
		defer srv.Close()
		var refs []types.NamespacedName
		var pools []types.NamespacedName
		var apps []githubtest.App
		secretNS := newNamespace()
		for i := range 2 {
			ns := newNamespace()
			pools = append(pools, createPool(ns, "builders"))
			a := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: appKey(GinkgoT())})
			apps = append(apps, a)
			data := a.SecretData()
			data[KeyCABundle] = srv.CACertPEM()
			name := "app-" + strconv.Itoa(i)
			Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: name}, Data: data})).To(Succeed())
			refs = append(refs, types.NamespacedName{Namespace: secretNS, Name: name})
			srv.DeliverAppEvent(sctx, a.ID, "workflow_job", job(ns, "queued", int64(10+i), ""))
		}
		m := startManager(Options{Pull: PullOptions{CredentialsRefs: refs, GitHubURL: srv.URL(), Interval: time.Second}})
		for i, pool := range pools {
			Eventually(func() map[int64]string { return jobsOf(pool) }).Should(Equal(map[int64]string{int64(10 + i): "Queued/"}))
		}
		m.stop()
		for i, a := range apps {
			var cm corev1.ConfigMap
			Expect(k8s.Get(ctx, types.NamespacedName{Namespace: secretNS, Name: "corral-pull-app-" + strconv.Itoa(i)}, &cm)).To(Succeed())
			logged := srv.Deliveries(a.ID)
			Expect(cm.Data[pullKeyAfter]).To(Equal(strconv.FormatInt(logged[len(logged)-1].ID, 10)))
		}
		Expect((&logReading{}).NeedLeaderElection()).To(BeTrue(), "the manager runs the readers on the leader only")
	}, SpecTimeout(2*time.Minute))

	It("refuses an App Secret GitHub rejects and takes the events once it is fixed", func(sctx SpecContext) {
		ns := newNamespace()
		pool := createPool(ns, "builders")
		srv := githubtest.NewServer(githubtest.Options{})
		defer srv.Close()
		app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: appKey(GinkgoT())})
		srv.DeliverAppEvent(sctx, app.ID, "workflow_job", job(ns, "queued", 7, ""))
		// Another App's key: GitHub refuses the JWT.
		other, err := githubtest.NewPrivateKeyPEM()
		Expect(err).NotTo(HaveOccurred())
		data := app.SecretData()
		data["private-key"], data[KeyCABundle] = other, srv.CACertPEM()
		creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "github-app"}, Data: data}
		Expect(k8s.Create(ctx, creds)).To(Succeed())
		m := startManager(Options{Pull: PullOptions{
			CredentialsRefs: []types.NamespacedName{{Namespace: ns, Name: "github-app"}}, GitHubURL: srv.URL(), Interval: time.Second,
		}})
		Eventually(func() float64 {
			return m.metric("corral_webhook_pulled_deliveries_total", map[string]string{"result": "failed"})
		}).Should(BeNumerically(">=", 1))
		Expect(jobsOf(pool)).To(BeEmpty())

		creds.Data = app.SecretData()
		creds.Data[KeyCABundle] = srv.CACertPEM()
		Expect(k8s.Update(ctx, creds)).To(Succeed())
		// The backoff after a failure doubles from 1 s: the fix is seen within seconds.
		Eventually(func() map[int64]string { return jobsOf(pool) }).WithTimeout(40 * time.Second).Should(Equal(map[int64]string{7: "Queued/"}))
	}, SpecTimeout(2*time.Minute))
})
