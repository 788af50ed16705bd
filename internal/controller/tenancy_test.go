package controller_test

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/internal/runnerclass"
	"github.com/corral-run/corral/test/gen"
)

// evilServer is an HTTPS server a malicious tenant controls, with a certificate the
// class trusts (as a publicly trusted certificate would be): every request it gets is
// recorded, so a test can prove that no credential ever reached it.
type evilServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	leaked   atomic.Bool // an Authorization header or a bearer/JWT-looking body arrived
}

func newEvilServer() *evilServer {
	e := &evilServer{}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		e.mu.Lock()
		e.requests = append(e.requests, r.Method+" "+r.URL.Path)
		e.mu.Unlock()
		if r.Header.Get("Authorization") != "" || strings.Contains(string(body), "eyJ") {
			e.leaked.Store(true)
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	return e
}

// got returns the requests the evil server received.
func (e *evilServer) got() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.requests...)
}

// caPEM is the evil server's certificate.
func (e *evilServer) caPEM() string {
	return string(pemCert(e.Certificate().Raw))
}

// tenancy is the platform team's setup a test attacks: a class whose App can register in
// the organization org on the fake GitHub, with a CA bundle trusting both the fake and
// the evil server.
type tenancy struct {
	class *corralv1.RunnerClass
	app   githubtest.App
	org   string
}

// newTenancy creates the class's Secret and CA ConfigMap in the operator's namespace, and
// the class, changed by mods.
func newTenancy(evil *evilServer, mods ...gen.ClassModifier) tenancy {
	GinkgoHelper()
	n := classSeq.Add(1)
	t := tenancy{app: fake.AddApp(githubtest.AppOptions{}), org: fmt.Sprintf("tenant-org-%d", n)}
	name := fmt.Sprintf("class-%d", n)
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-app", Namespace: operatorNamespace},
		Data:       t.app.SecretData(),
	})).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-ca", Namespace: operatorNamespace},
		Data:       map[string]string{"ca.crt": string(fake.CACertPEM()) + evil.caPEM()},
	})).To(Succeed())
	base := []gen.ClassModifier{gen.WithClassServer(fake.URL()), func(c *corralv1.RunnerClass) {
		c.Spec.GitHub.Organizations = []string{t.org}
		c.Spec.GitHub.CredentialsSecretRef = corralv1.LocalSecretRef{Name: name + "-app"}
		c.Spec.GitHub.CABundle = &corralv1.ConfigMapKeyRef{Name: name + "-ca", Key: "ca.crt"}
		// Host networking with Corral's profiles: what the default class allows.
	}}
	t.class = gen.RunnerClass(name, append(base, mods...)...)
	t.class.Generation = 0
	Expect(k8s.Create(ctx, t.class)).To(Succeed())
	return t
}

var classSeq atomic.Int64

// pool is a Host-networking pool of the class in namespace ns, for the class's org,
// changed by mods.
func (t tenancy) pool(name, ns string, mods ...gen.PoolModifier) *corralv1.RunnerPool {
	base := []gen.PoolModifier{
		gen.WithNamespace(ns), gen.WithURL(fake.OrgURL(t.org)), gen.WithClass(t.class.Name), gen.WithMinIdle(1),
		gen.WithNetworking(corralv1.NestedNetworkingHost),
		func(p *corralv1.RunnerPool) { p.UID, p.Generation = "", 0 },
	}
	return gen.RunnerPool(name, append(base, mods...)...)
}

// tenantNamespace creates a namespace with labels (set by the platform team).
func tenantNamespace(labels map[string]string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-", Labels: labels}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// expectRefused waits for the pool's Stalled condition and then checks that it never got a
// runner pod, that GitHub saw no registration with the class's App and that the evil
// server got nothing.
func expectRefused(pool *corralv1.RunnerPool, t tenancy, evil *evilServer, reason, fragment string) {
	GinkgoHelper()
	eventually(poolCondition(pool, corralv1.ConditionStalled)).Should(And(
		HaveField("Status", metav1.ConditionTrue), HaveField("Reason", reason), HaveField("Message", ContainSubstring(fragment))))
	Consistently(func() []corev1.Pod { return runnerPods(pool) }, "1s").Should(BeEmpty(), "no runner pod")
	Expect(fake.CallCountFor(t.app.Credential, githubtest.EndpointOrgJIT)).To(BeZero(), "no registration spent")
	Expect(evil.got()).To(BeEmpty(), "nothing reached the evil server")
	Expect(evil.leaked.Load()).To(BeFalse())
}

var _ = Describe("Tenancy: what a tenant can write and what it gets", func() {
	var evil *evilServer
	BeforeEach(func() {
		evil = newEvilServer()
		DeferCleanup(evil.Close)
	})

	It("runs a pool of a class with the class's credentials and CA, and nothing more", func() {
		t := newTenancy(evil)
		ns := tenantNamespace(nil)
		pool := t.pool("fine", ns)
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		Expect(fake.CallCountFor(t.app.Credential, githubtest.EndpointOrgJIT)).To(Equal(1))
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runnerclass.CABundleConfigMap(pool)}, cm)).To(Succeed())
		Expect(cm.Data["ca.crt"]).To(ContainSubstring(string(fake.CACertPEM())), "the runners trust the class's CA")
		Expect(evil.got()).To(BeEmpty())
	})

	DescribeTable("refuses a pool that asks for more than its class gives",
		func(nsLabels map[string]string, classMods []gen.ClassModifier, poolMods func(tenancy) []gen.PoolModifier, reason, fragment string) {
			t := newTenancy(evil, classMods...)
			ns := tenantNamespace(nsLabels)
			pool := t.pool("attack", ns, poolMods(t)...)
			Expect(k8s.Create(ctx, pool)).To(Succeed())
			expectRefused(pool, t, evil, reason, fragment)
		},
		Entry("credentials to another host: the tenant's server", nil, nil,
			func(tenancy) []gen.PoolModifier { return urlOn(evil.URL + "/acme") }, corralv1.ReasonClassViolation, "is not the class's server"),
		Entry("credentials to another host with the class's organization", nil, nil,
			func(t tenancy) []gen.PoolModifier { return urlOn(evil.URL + "/" + t.org) }, corralv1.ReasonClassViolation, "is not the class's server"),
		Entry("another organization on the class's server", nil, nil,
			func(tenancy) []gen.PoolModifier { return urlOn(fake.OrgURL("someone-else")) }, corralv1.ReasonClassViolation, "is not allowed by the class"),
		Entry("a repository the class does not grant (narrower scope captures demand)", nil, nil,
			func(t tenancy) []gen.PoolModifier { return urlOn(fake.OrgURL(t.org) + "/app") }, corralv1.ReasonClassViolation, "repository"),
		Entry("a class that does not serve the namespace", nil,
			[]gen.ClassModifier{gen.WithClassNamespaces(map[string]string{"corral.run/tenant": "blue"})},
			none, corralv1.ReasonClassNotAllowed, "does not serve namespace"),
		Entry("a runner group the class does not list", nil, nil,
			func(tenancy) []gen.PoolModifier { return []gen.PoolModifier{gen.WithRunnerGroup("production")} }, corralv1.ReasonClassViolation, "runner group"),
		Entry("more runners than the class allows", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Limits.MaxRunnersPerPool = ptr.To[int32](3) }},
			func(tenancy) []gen.PoolModifier { return []gen.PoolModifier{gen.WithMaxRunners(4)} }, corralv1.ReasonClassViolation, "runners per pool"),
		Entry("seccomp Unconfined (the default of Isolated networking with the tun hostPath, which the class allows)", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Sandbox.TunDevices = []corralv1.TunDevice{corralv1.TunHostPath} }},
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath)}
			}, corralv1.ReasonClassViolation, "seccomp Unconfined"),
		Entry("the tun hostPath, with profiles the class allows", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath),
					gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile), gen.WithAppArmor(corralv1.AppArmorRuntimeDefault, "")}
			}, corralv1.ReasonClassViolation, "spec.sandbox.tunDevice: HostPath is not allowed (allowed: DevicePlugin)"),
		Entry("a Localhost seccomp profile the class does not list", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithSeccomp(corralv1.SeccompLocalhost, "evil/allow-all.json")}
			}, corralv1.ReasonClassViolation, "evil/allow-all.json"),
		Entry("a Localhost AppArmor profile the class does not list", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithAppArmor(corralv1.AppArmorLocalhost, "unconfined-ish")}
			}, corralv1.ReasonClassViolation, "unconfined-ish"),
		Entry("SELinux spc_t, even where the class (by mistake) allows it", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Sandbox.SELinuxTypes = []string{"spc_t"} }},
			func(tenancy) []gen.PoolModifier { return []gen.PoolModifier{gen.WithSELinuxType("spc_t")} },
			corralv1.ReasonPolicyViolation, "not a confined container type"),
		Entry("a runtime class the class does not list", nil, nil,
			func(tenancy) []gen.PoolModifier { return []gen.PoolModifier{gen.WithRuntimeClass("runc-unsafe")} }, corralv1.ReasonClassViolation, "runtimeClassName"),
		Entry("no user namespace where the class requires one", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Sandbox.UserNamespace = corralv1.UserNamespaceRequired }},
			none, corralv1.ReasonClassViolation, "user namespace"),
		Entry("the control plane's toleration", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithTolerations(corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists})}
			}, corralv1.ReasonClassViolation, "toleration"),
		Entry("system-node-critical priority", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithPriorityClass("system-node-critical")}
			}, corralv1.ReasonClassViolation, "priorityClassName"),
		Entry("Unrestricted egress", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithEgress(corralv1.EgressUnrestricted)}
			}, corralv1.ReasonClassViolation, "Unrestricted"),
		Entry("egress to a private range", nil, nil,
			func(tenancy) []gen.PoolModifier { return []gen.PoolModifier{gen.WithAllowCIDR("10.0.0.0/8", 443)} }, corralv1.ReasonClassViolation, "allowedCIDRs"),
		Entry("egress to the metadata endpoint", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Network.AllowedCIDRs = []string{"10.20.0.0/16"} }},
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithAllowCIDR("169.254.169.254/32", 80)}
			}, corralv1.ReasonClassViolation, "169.254.169.254"),
		Entry("egress to every namespace's pods", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithAllowPods(nil, map[string]string{}, 5432)}
			}, corralv1.ReasonClassViolation, "namespaceSelector"),
		Entry("its own DNS target (an egress hole on port 53)", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{gen.WithDNS(corralv1.DNSSpec{Namespace: "kube-system", CIDR: ptr.To("10.0.0.0/8")})}
			}, corralv1.ReasonClassViolation, "spec.network.dns"),
		Entry("a Secret of the namespace in every job's environment", nil, nil,
			func(tenancy) []gen.PoolModifier {
				return []gen.PoolModifier{func(p *corralv1.RunnerPool) {
					p.Spec.Template.Env = []corev1.EnvVar{{Name: "PROD_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "deploy-keys"}, Key: "prod"}}}}
				}}
			}, corralv1.ReasonClassViolation, "envFromSecrets"),
		Entry("an image outside the class's registries", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Template.Images = []string{"ghcr.io/acme/"} }},
			none, corralv1.ReasonClassViolation, "does not start with an allowed prefix"),
		Entry("more CPU than the class allows", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) {
				c.Spec.Limits.MaxResources = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			}},
			none, corralv1.ReasonClassViolation, "cpu limit"),
		Entry("a work volume bigger than the class allows", nil,
			[]gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Limits.MaxWorkVolume = ptr.To(resource.MustParse("5Gi")) }},
			none, corralv1.ReasonClassViolation, "workVolume"),
	)

	It("says in a class's status whether it can be used, and its App installation (no secret)", func() {
		t := newTenancy(evil, func(c *corralv1.RunnerClass) {
			c.Spec.GitHub.WebhookSecretRef = &corralv1.SecretKeySelector{Name: "not-there", Key: "webhook-secret"}
		})
		ready := func() *metav1.Condition {
			c := &corralv1.RunnerClass{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: t.class.Name}, c); err != nil {
				return nil
			}
			return meta.FindStatusCondition(c.Status.Conditions, corralv1.ConditionReady)
		}
		eventually(ready).Should(And(HaveField("Status", metav1.ConditionFalse), HaveField("Message", ContainSubstring("webhook Secret"))))
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "not-there", Namespace: operatorNamespace},
			StringData: map[string]string{"webhook-secret": "s3cret"}})).To(Succeed())
		eventually(ready).Should(HaveField("Status", metav1.ConditionTrue), "creating the Secret makes the class usable")
		c := &corralv1.RunnerClass{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: t.class.Name}, c)).To(Succeed())
		Expect(c.Status.Credentials).To(Equal(&corralv1.ClassCredentials{Kind: "App", AppID: t.app.ID, InstallationID: t.app.InstallationID}))
	})

	It("refuses a pool naming a class that does not exist", func() {
		t := newTenancy(evil)
		ns := tenantNamespace(nil)
		pool := t.pool("orphaned", ns, gen.WithClass("no-such-class"))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		expectRefused(pool, t, evil, corralv1.ReasonClassNotFound, "does not exist")
	})

	It("shares a namespace's runner budget by age: a new pool cannot take the older pools' runners", func() {
		t := newTenancy(evil, func(c *corralv1.RunnerClass) { c.Spec.Limits.MaxRunnersPerNamespace = ptr.To[int32](5) })
		ns := tenantNamespace(nil)
		older := t.pool("older", ns, gen.WithMaxRunners(4))
		Expect(k8s.Create(ctx, older)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(older) }).Should(HaveLen(1))
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a resolution of one second
		newer := t.pool("newer", ns, gen.WithMaxRunners(4))
		Expect(k8s.Create(ctx, newer)).To(Succeed())
		eventually(poolCondition(newer, corralv1.ConditionStalled)).Should(And(
			HaveField("Reason", corralv1.ReasonClassViolation), HaveField("Message", ContainSubstring("may have 5 runners in all"))))
		Expect(runnerPods(newer)).To(BeEmpty())
		Expect(runnerPods(older)).To(HaveLen(1), "the older pool keeps running")
	})

	It("does not take over a ConfigMap of the tenant's that has the CA copy's name", func() {
		t := newTenancy(evil)
		ns := tenantNamespace(nil)
		pool := t.pool("squatted", ns)
		Expect(k8s.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: runnerclass.CABundleConfigMap(pool), Namespace: ns},
			Data:       map[string]string{"ca.crt": evil.caPEM()},
		})).To(Succeed())
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		expectRefused(pool, t, evil, corralv1.ReasonConfigInvalid, "is not Corral's")
	})

	It("stops a running pool whose class is tightened, keeping its busy runners", func() {
		t := newTenancy(evil)
		ns := tenantNamespace(nil)
		pool := t.pool("tightened", ns, gen.WithMinIdle(2))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(2))
		runAll(pool)
		busy := runnerPods(pool)[0].Name
		Expect(fake.StartJob(busy)).To(Succeed())
		Eventually(func() error {
			c := &corralv1.RunnerClass{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: t.class.Name}, c); err != nil {
				return err
			}
			c.Spec.Limits.MaxRunnersPerPool = ptr.To[int32](1) // the pool's maxRunners is 10
			return k8s.Update(ctx, c)
		}).Should(Succeed())
		eventually(poolCondition(pool, corralv1.ConditionStalled)).Should(HaveField("Reason", corralv1.ReasonClassViolation))
		eventually(func() []string { return podNames(runnerPods(pool)) }).Should(ConsistOf(busy), "idle runners go, the busy one finishes its job")
	})
})

func urlOn(u string) []gen.PoolModifier { return []gen.PoolModifier{gen.WithURL(u)} }

func none(tenancy) []gen.PoolModifier { return nil }

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
