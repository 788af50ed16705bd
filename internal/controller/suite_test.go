package controller_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/autoscale"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/testenv"
)

// The suite runs the RunnerPool controller in a manager against a real kube-apiserver and
// etcd (envtest) and the fake GitHub, driven through the real go-github client.
func TestController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "RunnerPool controller")
}

var (
	env     *testenv.Env
	k8s     client.Client
	fake    *githubtest.Server
	factory *github.Factory
	ctx     context.Context
	stop    context.CancelFunc
	// webhookAddr is where the running manager's webhook receiver listens.
	webhookAddr string
	// managerConfig is the operator's identity: a ServiceAccount with exactly the RBAC
	// Corral ships (config/rbac), so every spec also proves those rules suffice.
	managerConfig *rest.Config
)

// serviceAccount is the operator's ServiceAccount, as config/default installs it.
const serviceAccount = "system:serviceaccount:" + operatorNamespace + ":corral"

// grantShippedRBAC applies config/rbac/role.yaml (the ClusterRole and the operator
// namespace's Role the controller-gen markers produce), binds both to the operator's
// ServiceAccount and returns a config that acts as it.
func grantShippedRBAC() *rest.Config {
	GinkgoHelper()
	root, err := testenv.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	raw, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || len(u.Object) == 0 {
			continue
		}
		Expect(k8s.Create(ctx, u)).To(Succeed())
		subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "corral", Namespace: operatorNamespace}
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: u.GetKind(), Name: u.GetName()}
		meta := metav1.ObjectMeta{Name: "corral-" + strings.ToLower(u.GetKind()), Namespace: u.GetNamespace()}
		if u.GetKind() == "ClusterRole" {
			Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: []rbacv1.Subject{subject}})).To(Succeed())
		} else {
			Expect(k8s.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: []rbacv1.Subject{subject}})).To(Succeed())
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"}}
	return cfg
}

const (
	operatorNamespace = "corral-system"
	webhookSecret     = "It's a Secret to Everybody"
)

// suiteOptions are short timings so that sweeps, graces and drains happen within a test.
var suiteOptions = controller.Options{
	SweepInterval:  2 * time.Second,
	OrphanGrace:    time.Second,
	PendingTimeout: time.Hour,
	DrainTimeout:   time.Hour,
	BusyRecheck:    300 * time.Millisecond,
	StalledRecheck: 2 * time.Second,
	BusyClaimTTL:   2 * time.Second,
	StatusInterval: time.Second,
	JobEvents:      true,
	AuditRecheck:   time.Second,
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start(testenv.Options{})
	Expect(err).NotTo(HaveOccurred())
	k8s = env.Client

	fake = githubtest.NewServer(githubtest.Options{ContentCreatingPerMinute: 100000, SecondaryPoints: 1000000})
	factory = github.NewFactory(github.FactoryOptions{})

	ctx, stop = context.WithCancel(context.Background())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	managerConfig = grantShippedRBAC()
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "webhook", Namespace: operatorNamespace},
		Data:       map[string][]byte{autoscale.SecretKeyPrefix: []byte(webhookSecret)},
	})).To(Succeed())
	startManager(ctx)
})

var _ = AfterSuite(func() {
	if stop != nil {
		stop()
	}
	if fake != nil {
		fake.Close()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// startManager runs the controller as cmd/corral does, until ctx ends.
func startManager(ctx context.Context) {
	byObject := controller.CacheByObject(operatorNamespace)
	byObject[&corralv1.RunnerPool{}] = cache.ByObject{Label: notStandalone}
	mgr, err := ctrl.NewManager(managerConfig, ctrl.Options{
		Scheme:     env.Scheme,
		Cache:      cache.Options{ByObject: byObject, DefaultTransform: controller.DefaultTransform()},
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: configControllerOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	webhookAddr = freeAddr()
	webhook := autoscale.Options{
		BindAddress: webhookAddr, Path: "/webhook",
		SecretRef: types.NamespacedName{Namespace: operatorNamespace, Name: "webhook"},
	}
	Expect(autoscale.AddToManager(mgr, webhook, nil)).To(Succeed())
	Expect((&controller.RunnerPoolReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Forges:            controller.GitHubForges{Factory: factory},
		Recorder:          mgr.GetEventRecorder("corral"),
		OperatorNamespace: operatorNamespace,
		DemandOf:          suiteDemand,
		Options:           suiteOptions,
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&controller.RunnerClassReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), OperatorNamespace: operatorNamespace,
	}).SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

// newNamespace creates a namespace holding the credentials Secret of a new App (so that
// API calls can be counted per test) and the fake's CA.
func newNamespace(labels map[string]string) (string, githubtest.App) {
	app := fake.AddApp(githubtest.AppOptions{})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pool-", Labels: labels}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "github-app", Namespace: ns.Name},
		Data:       app.SecretData(),
	})).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "github-ca", Namespace: ns.Name},
		Data:       map[string]string{"ca.crt": string(fake.CACertPEM())},
	})).To(Succeed())
	return ns.Name, app
}

// fakePool is a pool registering with the fake GitHub's org.
func fakePool(name, ns, org string, mods ...gen.PoolModifier) *corralv1.RunnerPool {
	base := []gen.PoolModifier{
		gen.WithNamespace(ns),
		gen.WithURL(fake.OrgURL(org)),
		func(p *corralv1.RunnerPool) {
			p.UID = ""
			p.Generation = 0
			p.Spec.GitHub.CABundle = &corralv1.ConfigMapKeyRef{Name: "github-ca", Key: "ca.crt"}
		},
	}
	return gen.RunnerPool(name, append(base, mods...)...)
}

// runnerPods lists the pool's runner pods that are not being deleted.
func runnerPods(pool *corralv1.RunnerPool) []corev1.Pod {
	pods := &corev1.PodList{}
	ExpectWithOffset(1, k8s.List(ctx, pods, client.InNamespace(pool.Namespace),
		client.MatchingLabels{corralv1.LabelPool: pool.Name})).To(Succeed())
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// registrations returns the fake's runners whose names belong to the pool.
func registrations(pool *corralv1.RunnerPool) []githubtest.Runner {
	prefix := github.RunnerNamePrefix(pool.Name, pool.UID)
	var out []githubtest.Runner
	for _, r := range fake.Runners() {
		if github.OwnsRunnerName(prefix, r.Name) {
			out = append(out, r)
		}
	}
	return out
}

// setPhase plays the kubelet: it moves a pod to phase, with the runner's exit code when it
// terminated.
func setPhase(pod *corev1.Pod, phase corev1.PodPhase, exitCode int32) {
	GinkgoHelper()
	Eventually(func() error {
		p := &corev1.Pod{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), p); err != nil {
			return err
		}
		p.Status.Phase = phase
		state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
		if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, FinishedAt: metav1.Now()}}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "runner", State: state, Image: "runner", ImageID: "runner"}}
		return k8s.Status().Update(ctx, p)
	}).Should(Succeed())
}

// runAll moves every pending runner pod of the pool to Running and its registration online.
func runAll(pool *corralv1.RunnerPool) {
	GinkgoHelper()
	for _, p := range runnerPods(pool) {
		if p.Status.Phase == corev1.PodPending || p.Status.Phase == "" {
			setPhase(&p, corev1.PodRunning, 0)
			Expect(fake.SetOnline(p.Name)).To(Succeed())
		}
	}
}

// poolCondition returns the pool's condition of type t.
func poolCondition(pool *corralv1.RunnerPool, t string) func() *metav1.Condition {
	return func() *metav1.Condition {
		p := &corralv1.RunnerPool{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pool), p); err != nil {
			return nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == t {
				return &c
			}
		}
		return nil
	}
}

func networkPolicies(ns string) []networkingv1.NetworkPolicy {
	list := &networkingv1.NetworkPolicyList{}
	ExpectWithOffset(1, k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

// configControllerOptions allows a second manager in the same process (restart tests).
func configControllerOptions() ctrlconfig.Controller {
	return ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}
}

// labelStandalone marks pools that only hand-driven reconcilers see: the suite's manager
// does not cache them, so a test controls every reconcile, its clock and its client.
const labelStandalone = "corral-test/standalone"

var notStandalone = func() labels.Selector {
	req, err := labels.NewRequirement(labelStandalone, selection.DoesNotExist, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*req)
}()

// standalone is a reconciler driven by hand, as a fresh operator process would be: its
// own (empty) memory, reading through c, at the time now returns.
func standalone(c client.Client, now func() time.Time) *controller.RunnerPoolReconciler {
	opts := suiteOptions
	opts.CreateConcurrency, opts.MaxCreatesPerReconcile = 4, 50
	return &controller.RunnerPoolReconciler{Client: c, APIReader: k8s, Forges: controller.GitHubForges{Factory: factory}, Options: opts, Now: now}
}

// reconcileBy runs one reconcile of pool with r.
func reconcileBy(r reconcile.Reconciler, pool *corralv1.RunnerPool) ctrl.Result {
	GinkgoHelper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pool)})
	Expect(client.IgnoreNotFound(err)).To(Or(Succeed(), MatchError(reconcile.TerminalError(nil))))
	return res
}

// laggingClient is a client whose pod and Secret lists miss everything created in the last
// lag, as an informer cache that has not caught up with recent creations does.
type laggingClient struct {
	client.Client
	lag time.Duration
}

func (c laggingClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	fresh := func(o metav1.Object) bool { return time.Since(o.GetCreationTimestamp().Time) < c.lag }
	switch l := list.(type) {
	case *corev1.PodList:
		l.Items = slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return fresh(&p) })
	case *metav1.PartialObjectMetadataList:
		l.Items = slices.DeleteFunc(l.Items, func(p metav1.PartialObjectMetadata) bool { return fresh(&p) })
	}
	return nil
}
