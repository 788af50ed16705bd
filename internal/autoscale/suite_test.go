package autoscale

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/testenv"
)

// The envtest suite runs the demand store and the receiver against a real API server:
// deliveries land in status.demand before they are acknowledged, concurrent writers lose
// nothing, demand survives a new receiver, expires and stays small and bounded, and failed
// deliveries come back from the App's log.
func TestDemandStoreEnvtest(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "autoscale envtest")
}

var (
	env *testenv.Env
	k8s client.Client
	ctx = context.Background()
)

var _ = BeforeSuite(func() {
	log.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	// The API server is shared with other builds on a small machine: be patient.
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	var err error
	env, err = testenv.Start(testenv.Options{})
	Expect(err).NotTo(HaveOccurred())
	k8s = env.Client
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace for one spec.
func newNamespace() string {
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "autoscale-"}}
	Expect(k8s.Create(ctx, n)).To(Succeed())
	return n.Name
}

// createPool creates a pool for the organization named like its namespace (so specs never
// match each other's jobs) and returns its key.
func createPool(ns, name string, mods ...gen.PoolModifier) types.NamespacedName {
	pool := gen.RunnerPool(name, append([]gen.PoolModifier{gen.WithNamespace(ns), gen.WithURL("https://github.com/" + ns)}, mods...)...)
	pool.Status = corralv1.RunnerPoolStatus{}
	Expect(k8s.Create(ctx, pool)).To(Succeed())
	return client.ObjectKeyFromObject(pool)
}

// getPool reads a pool from the API server.
func getPool(key types.NamespacedName) *corralv1.RunnerPool {
	var p corralv1.RunnerPool
	Expect(k8s.Get(ctx, key, &p)).To(Succeed())
	return &p
}

// jobsOf summarises a pool's status.demand, read from the API server, as id ->
// state/runner suffix.
func jobsOf(key types.NamespacedName) map[int64]string {
	return states(corralv1.DecodeDemand(getPool(key).Status.Demand))
}

// newStore is a demand store on its own client, as another replica would have.
func newStore() *store {
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return &store{api: c, writer: c, metrics: NewMetrics(nil), now: time.Now,
		policy: Options{}.withDefaults().policy()}
}

// freeAddr is a local address nothing listens on.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}

// runningManager is a manager with the webhook receiver, as one replica of Corral.
type runningManager struct {
	url      string
	registry *prometheus.Registry
	stop     func()
}

// startManager starts a manager with AddToManager(opts) and waits for the receiver.
func startManager(opts Options) *runningManager { return startManagerWith(opts, nil) }

// startManagerWith is startManager whose manager client is wrap(the usual client), unless
// wrap is nil.
func startManagerWith(opts Options, wrap func(client.WithWatch) client.WithWatch) *runningManager {
	return startManagerAs(env.Config, opts, wrap)
}

// startManagerAs is startManagerWith talking to the API server as cfg's user.
func startManagerAs(cfg *rest.Config, opts Options, wrap func(client.WithWatch) client.WithWatch) *runningManager {
	opts.BindAddress = freeAddr()
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	mopts := ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if wrap != nil {
		mopts.NewClient = func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, o)
			if err != nil {
				return nil, err
			}
			return wrap(c), nil
		}
	}
	mgr, err := ctrl.NewManager(cfg, mopts)
	Expect(err).NotTo(HaveOccurred())
	reg := prometheus.NewRegistry()
	Expect(AddToManager(mgr, opts, reg)).To(Succeed())
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	var once sync.Once
	m := &runningManager{url: "http://" + opts.BindAddress + opts.Path, registry: reg, stop: func() { once.Do(func() { cancel(); <-done }) }}
	DeferCleanup(m.stop)
	if opts.Enabled() {
		// Any answer means the server is up (503 while its Secret is missing).
		Eventually(func() int { return m.send("ping", "", []byte(`{}`), false) }).WithTimeout(20 * time.Second).ShouldNot(BeZero())
	}
	return m
}

// send delivers a signed event and returns the status code.
func (m *runningManager) send(event, guid string, payload []byte, form bool) int {
	status, _ := m.sendFull(event, guid, payload, form)
	return status
}

// sendFull delivers a signed event and returns the status code and the answer's body.
func (m *runningManager) sendFull(event, guid string, payload []byte, form bool) (int, string) {
	return m.sendSigned(string(testSecret), event, guid, payload, form)
}

// sendSigned delivers an event signed with secret and returns the status code and the
// answer's body.
func (m *runningManager) sendSigned(secret, event, guid string, payload []byte, form bool) (int, string) {
	status, body, err := githubtest.SendWebhook(ctx, http.DefaultClient, m.url, githubtest.WebhookRequest{
		Event: event, GUID: guid, Payload: payload, Secret: secret, Form: form,
	})
	if err != nil {
		return 0, err.Error()
	}
	return status, body
}

// rawPool is the pool's JSON exactly as the API server returns it (managedFields included).
func rawPool(key types.NamespacedName) []byte {
	cs, err := kubernetes.NewForConfig(env.Config)
	Expect(err).NotTo(HaveOccurred())
	raw, err := cs.Discovery().RESTClient().Get().
		AbsPath("/apis", corralv1.GroupVersion.Group, corralv1.GroupVersion.Version, "namespaces", key.Namespace, "runnerpools", key.Name).
		DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred())
	return raw
}

// createWebhookSecret creates the webhook Secret in ns.
func createWebhookSecret(ns string, secrets ...string) types.NamespacedName {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "webhook"}, Data: map[string][]byte{}}
	for i, v := range secrets {
		s.Data[fmt.Sprintf("%s-%d", SecretKeyPrefix, i)] = []byte(v)
	}
	Expect(k8s.Create(ctx, s)).To(Succeed())
	return client.ObjectKeyFromObject(s)
}

// job is a workflow_job payload for a job of the repository NS/app asking for labels.
func job(ns, action string, id int64, runner string, labels ...string) []byte {
	if len(labels) == 0 {
		labels = []string{"self-hosted", "linux"}
	}
	return githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: action, ID: id, RunnerName: runner, Labels: labels, Repository: ns + "/app"})
}
