package v1alpha1_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/testenv"
)

// applyFile creates every object of a multi-document YAML file.
func applyFile(path string) {
	GinkgoHelper()
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		if len(u.Object) > 0 {
			Expect(k8s.Create(ctx, u)).To(Succeed())
		}
	}
}

// The admission policy shipped in config/admission refuses, at the API server, a pool that
// asks for more than the RunnerClass it names allows, with a message naming the field.
var _ = Describe("RunnerClass admission policy", Ordered, func() {
	var ns, outside string
	BeforeAll(func() {
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		applyFile(filepath.Join(root, "config", "admission", "runnerclass-policy.yaml"))
		for _, n := range []*string{&ns, &outside} {
			o := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "vap-"}}
			if n == &ns {
				o.Labels = map[string]string{"corral.run/tenant": "blue"}
			}
			Expect(k8s.Create(ctx, o)).To(Succeed())
			*n = o.Name
		}
		class := gen.RunnerClass("blue", gen.WithClassNamespaces(map[string]string{"corral.run/tenant": "blue"}), func(c *corralv1.RunnerClass) {
			c.Spec.GitHub.Repositories = []string{"acme/app"}
			c.Spec.GitHub.RunnerGroups = []string{"ci"}
			c.Spec.Limits.MaxRunnersPerPool = ptr.To[int32](5)
			c.Spec.Network.AllowedCIDRs = []string{"10.20.0.0/16"}
			c.Spec.Scheduling.Tolerations = []corev1.Toleration{{Key: "ci", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			c.Spec.Audit = corralv1.AuditForbidden
		})
		class.Generation = 0
		Expect(k8s.Create(ctx, class)).To(Succeed())
		audited := class.DeepCopy()
		audited.Name, audited.ResourceVersion, audited.Spec.Audit = "audited", "", corralv1.AuditRequired
		Expect(k8s.Create(ctx, audited)).To(Succeed())
		// A second class, so the policy runs with several parameters.
		other := gen.RunnerClass("other", func(c *corralv1.RunnerClass) { c.Spec.GitHub.Organizations = []string{"other"} })
		other.Generation = 0
		Expect(k8s.Create(ctx, other)).To(Succeed())
		// The policy takes effect once the API server compiled it and saw its parameters.
		Eventually(func() error {
			return k8s.Create(ctx, blue("probe", ns, gen.WithURL("https://evil.example/acme")), dryRun)
		}).WithTimeout(30 * time.Second).Should(HaveOccurred())
	})

	It("admits a pool within its class, and one naming another class by its rules", func() {
		Expect(k8s.Create(ctx, blue("fine", ns), dryRun)).To(Succeed())
		Expect(k8s.Create(ctx, blue("fine-repo", ns, gen.WithURL("https://github.com/acme/app")), dryRun)).To(Succeed())
		Expect(k8s.Create(ctx, blue("fine-toleration", ns, gen.WithTolerations(corev1.Toleration{Key: "ci", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})), dryRun)).To(Succeed())
		Expect(k8s.Create(ctx, blue("fine-cidr", ns, gen.WithAllowCIDR("10.20.3.0/24", 443)), dryRun)).To(Succeed())
		Expect(k8s.Create(ctx, gen.RunnerPool("classless", gen.WithNamespace(outside)), dryRun)).To(Succeed(), "a class-less pool is left to the CRD")
		Expect(k8s.Create(ctx, blue("fine-audited", ns, gen.WithClass("audited"), gen.WithAudit("/etc/")), dryRun)).To(Succeed())
		Expect(k8s.Create(ctx, blue("fine-isolated", ns, gen.WithNetworking(corralv1.NestedNetworkingIsolated)), dryRun)).To(Succeed(),
			"Isolated networking with its defaults (the tun device plugin) is within a class's defaults")
	})

	DescribeTable("refuses",
		func(namespace func() string, mods []gen.PoolModifier, fragment string) {
			err := k8s.Create(ctx, blue("attack", namespace(), mods...), dryRun)
			Expect(err).To(HaveOccurred(), "the API server admitted the pool")
			Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(fragment))
		},
		Entry("a namespace the class does not serve", func() string { return outside }, nil, "does not serve namespace"),
		Entry("credentials to another host", func() string { return ns }, []gen.PoolModifier{gen.WithURL("https://evil.example/acme")}, "is not the server of RunnerClass blue"),
		Entry("a look-alike host", func() string { return ns }, []gen.PoolModifier{gen.WithURL("https://github.com.evil.example/acme")}, "is not the server"),
		Entry("another organization", func() string { return ns }, []gen.PoolModifier{gen.WithURL("https://github.com/other")}, "is not a scope RunnerClass blue allows"),
		Entry("a repository the class does not grant", func() string { return ns }, []gen.PoolModifier{gen.WithURL("https://github.com/acme/secrets")}, "is not a scope"),
		Entry("a runner group", func() string { return ns }, []gen.PoolModifier{gen.WithRunnerGroup("production")}, "spec.runnerGroup"),
		Entry("more runners", func() string { return ns }, []gen.PoolModifier{gen.WithMaxRunners(6)}, "spec.maxRunners exceeds"),
		Entry("seccomp Unconfined", func() string { return ns }, []gen.PoolModifier{gen.WithSeccomp(corralv1.SeccompUnconfined, "")}, "seccompProfile"),
		Entry("the tun hostPath", func() string { return ns }, []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath),
			gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile)}, "spec.sandbox.tunDevice: HostPath is not allowed by RunnerClass blue"),
		Entry("AppArmor Unconfined", func() string { return ns }, []gen.PoolModifier{gen.WithAppArmor(corralv1.AppArmorUnconfined, "")}, "appArmorProfile"),
		Entry("an SELinux type", func() string { return ns }, []gen.PoolModifier{gen.WithSELinuxType("container_engine_t")}, "seLinuxOptions"),
		Entry("a runtime class", func() string { return ns }, []gen.PoolModifier{gen.WithRuntimeClass("runc-unsafe")}, "runtimeClassName"),
		Entry("a priority class", func() string { return ns }, []gen.PoolModifier{gen.WithPriorityClass("high")}, "priorityClassName"),
		Entry("a toleration", func() string { return ns }, []gen.PoolModifier{gen.WithTolerations(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})}, "tolerations"),
		Entry("Unrestricted egress", func() string { return ns }, []gen.PoolModifier{gen.WithEgress(corralv1.EgressUnrestricted)}, "spec.network.egress"),
		Entry("a wider range", func() string { return ns }, []gen.PoolModifier{gen.WithAllowCIDR("10.0.0.0/8", 443)}, "spec.network.allow"),
		Entry("every namespace's pods", func() string { return ns }, []gen.PoolModifier{gen.WithAllowPods(nil, map[string]string{}, 5432)}, "spec.network.allow"),
		Entry("its own DNS", func() string { return ns }, []gen.PoolModifier{gen.WithDNS(corralv1.DNSSpec{Namespace: "kube-system", CIDR: ptr.To("10.0.0.0/8")})}, "spec.network.dns"),
		Entry("audit where the class forbids it", func() string { return ns }, []gen.PoolModifier{gen.WithAudit()}, "does not allow audited pools"),
		Entry("no audit where the class requires it", func() string { return ns }, []gen.PoolModifier{gen.WithClass("audited")}, "requires its pools to be audited"),
		Entry("env from a Secret", func() string { return ns }, []gen.PoolModifier{func(p *corralv1.RunnerPool) {
			p.Spec.Template.Env = []corev1.EnvVar{{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}}, "may not read Secrets"),
	)
})

// dryRun makes a create a dry run: admission runs, nothing is stored.
var dryRun = client.DryRunAll

// blue is a pool of the class blue for the repository acme/app, in runner group ci.
func blue(name, ns string, mods ...gen.PoolModifier) *corralv1.RunnerPool {
	base := []gen.PoolModifier{gen.WithNamespace(ns), gen.WithClass("blue"), gen.WithURL("https://github.com/acme"),
		gen.WithRunnerGroup("ci"), gen.WithMaxRunners(5), gen.WithMinIdle(1), gen.WithNetworking(corralv1.NestedNetworkingHost)}
	p := gen.RunnerPool(name, append(base, mods...)...)
	p.UID, p.Generation = "", 0
	return p
}

var _ = Describe("RunnerClass validation", func() {
	DescribeTable("rejects",
		func(mod gen.ClassModifier, fragment string) {
			c := gen.RunnerClass("bad-class", mod)
			c.Generation = 0
			err := k8s.Create(ctx, c, dryRun)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(fragment))
		},
		Entry("no scope at all", func(c *corralv1.RunnerClass) { c.Spec.GitHub.Organizations = nil }, "at least one organization, repository or enterprise"),
		Entry("a plain-HTTP server", gen.WithClassServer("http://github.com"), "server must be an https:// URL"),
		Entry("a server with a path", gen.WithClassServer("https://github.com/acme"), "naming only a host"),
		Entry("a server with user info", gen.WithClassServer("https://me@github.com"), "naming only a host"),
		Entry("a malformed repository", func(c *corralv1.RunnerClass) { c.Spec.GitHub.Repositories = []string{"acme"} }, "spec.github.repositories"),
		Entry("a bad seccomp profile", func(c *corralv1.RunnerClass) { c.Spec.Sandbox.SeccompProfiles = []string{"Permissive"} }, "spec.sandbox.seccompProfiles"),
		Entry("an unknown user namespace policy", func(c *corralv1.RunnerClass) { c.Spec.Sandbox.UserNamespace = "Sometimes" }, "Unsupported value"),
		Entry("a bad CIDR", func(c *corralv1.RunnerClass) { c.Spec.Network.AllowedCIDRs = []string{"10.0.0.1"} }, "allowedCIDRs entries must be CIDRs"),
	)
})
