package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

// invalid is one object the API server must reject, with a fragment of the message a user sees.
type invalid struct {
	mutate  gen.PoolModifier
	message string
}

func spec(f func(s *corralv1.RunnerPoolSpec)) gen.PoolModifier {
	return func(p *corralv1.RunnerPool) { f(&p.Spec) }
}

func allow(r corralv1.AllowRule) gen.PoolModifier {
	return spec(func(s *corralv1.RunnerPoolSpec) { s.Network.Allow = append(s.Network.Allow, r) })
}

func tcp(port int32) []corralv1.PortRule {
	return []corralv1.PortRule{{Port: port, Protocol: corev1.ProtocolTCP}}
}

func manyLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("l%d", i)
	}
	return out
}

var invalidPools = map[string]invalid{
	// GitHub URL
	"http url":            {gen.WithURL("http://github.com/acme"), "url must be an https:// URL"},
	"url without scheme":  {gen.WithURL("github.com/acme"), "url must be an https:// URL"},
	"url with query":      {gen.WithURL("https://github.com/acme?x=1"), "must not carry a query"},
	"url with fragment":   {gen.WithURL("https://github.com/acme#top"), "must not carry a query, fragment"},
	"url with user info":  {gen.WithURL("https://me:pw@github.com/acme"), "user info"},
	"url without path":    {gen.WithURL("https://github.com"), "url path must be /ORG, /OWNER/REPO"},
	"url path too deep":   {gen.WithURL("https://github.com/a/b/c"), "url path must be /ORG, /OWNER/REPO"},
	"url with spaces":     {gen.WithURL("https://github.com/my org"), "url"},
	"url empty":           {gen.WithURL(""), "spec.github.url"},
	"url too long":        {gen.WithURL("https://github.com/" + strings.Repeat("a", 250)), "Too long"},
	"secret name missing": {gen.WithCredentials(""), "spec.github.credentialsSecretRef.name"},
	"secret name invalid": {gen.WithCredentials("Bad_Name"), "spec.github.credentialsSecretRef.name"},
	"too many credentials": {spec(func(s *corralv1.RunnerPoolSpec) {
		for i := range 9 {
			s.GitHub.AdditionalCredentialsSecretRefs = append(s.GitHub.AdditionalCredentialsSecretRefs,
				corralv1.LocalSecretRef{Name: fmt.Sprintf("app-%d", i)})
		}
	}), "must have at most 8 items"},

	// tenancy: a pool names a class or its own credentials, and without a class stays within
	// Corral's built-in guardrails
	"neither class nor credentials": {spec(func(s *corralv1.RunnerPoolSpec) { s.GitHub.CredentialsSecretRef = nil }),
		"a pool either names a RunnerClass"},
	"class and own credentials": {spec(func(s *corralv1.RunnerPoolSpec) { s.ClassRef = &corralv1.ClassRef{Name: "shared"} }),
		"a pool either names a RunnerClass"},
	"class with its own proxy": {func(p *corralv1.RunnerPool) {
		gen.WithClass("shared")(p)
		p.Spec.GitHub.Proxy = &corralv1.ProxySpec{HTTPSProxy: "http://tenant-proxy:3128"}
	}, "takes its credentials, CA bundle and proxy from the class"},
	"class with its own CA": {func(p *corralv1.RunnerPool) {
		gen.WithClass("shared")(p)
		p.Spec.GitHub.CABundle = &corralv1.ConfigMapKeyRef{Name: "my-ca"}
	}, "takes its credentials, CA bundle and proxy from the class"},
	"class with extra credentials": {func(p *corralv1.RunnerPool) {
		gen.WithClass("shared")(p)
		p.Spec.GitHub.AdditionalCredentialsSecretRefs = []corralv1.LocalSecretRef{{Name: "more"}}
	}, "takes its credentials, CA bundle and proxy from the class"},
	"class name invalid": {gen.WithClass("Not_A_Class"), "spec.classRef.name"},
	"env from a Secret": {func(p *corralv1.RunnerPool) {
		p.Spec.Template.Env = []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "deploy"}, Key: "token"}}}}
	}, "template.env may not read Secrets or ConfigMaps"},
	"env from a ConfigMap": {func(p *corralv1.RunnerPool) {
		p.Spec.Template.Env = []corev1.EnvVar{{Name: "CFG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "x"}}}}
	}, "template.env may not read Secrets or ConfigMaps"},
	"selinux spc_t": {gen.WithSELinuxType("spc_t"), "sandbox.seLinuxOptions.type must be container_t"},
	"selinux role": {spec(func(s *corralv1.RunnerPoolSpec) {
		s.Sandbox.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t", Role: "system_r"}
	}), "seLinuxOptions may set only type"},
	"selinux role in a class too": {func(p *corralv1.RunnerPool) {
		gen.WithClass("shared")(p)
		p.Spec.Sandbox.SELinuxOptions = &corev1.SELinuxOptions{User: "system_u"}
	}, "seLinuxOptions may set only type"},
	"another localhost seccomp profile": {gen.WithSeccomp(corralv1.SeccompLocalhost, "evil/allow-all.json"),
		"a Localhost profile other than Corral's corral/podman.json needs a RunnerClass"},
	"none mode with the podman profile": {func(p *corralv1.RunnerPool) {
		gen.WithContainers(corralv1.ContainersNone)(p)
		gen.WithSeccomp(corralv1.SeccompLocalhost, "corral/podman.json")(p)
	}, "containers None must not load the podman seccomp profile"},
	"none mode with the podman profile in a class": {func(p *corralv1.RunnerPool) {
		gen.WithClass("shared")(p)
		gen.WithContainers(corralv1.ContainersNone)(p)
		gen.WithSeccomp(corralv1.SeccompLocalhost, "corral/podman.json")(p)
	}, "containers None must not load the podman seccomp profile"},
	"another localhost apparmor profile": {gen.WithAppArmor(corralv1.AppArmorLocalhost, "unconfined-ish"),
		"a Localhost profile other than Corral's corral-podman needs a RunnerClass"},
	"tolerate every taint": {gen.WithTolerations(corev1.Toleration{Operator: corev1.TolerationOpExists}),
		"template.tolerations may not tolerate every taint"},
	"tolerate the control plane": {gen.WithTolerations(corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists}),
		"nor the control plane's"},
	"system priority": {gen.WithPriorityClass("system-node-critical"), "may not be a system- priority class"},
	"too many tolerations": {func(p *corralv1.RunnerPool) {
		var ts []corev1.Toleration
		for i := range 33 {
			ts = append(ts, corev1.Toleration{Key: fmt.Sprintf("k%d", i), Operator: corev1.TolerationOpExists})
		}
		gen.WithTolerations(ts...)(p)
	}, "must have at most 32 items"},
	"proxy not http": {spec(func(s *corralv1.RunnerPoolSpec) {
		s.GitHub.Proxy = &corralv1.ProxySpec{HTTPSProxy: "socks5://proxy:1080"}
	}), "httpsProxy must be an http:// or https:// URL"},
	"ca bundle without name": {spec(func(s *corralv1.RunnerPoolSpec) {
		s.GitHub.CABundle = &corralv1.ConfigMapKeyRef{}
	}), "spec.github.caBundle.name"},

	// sizes
	"minIdle above maxRunners": {func(p *corralv1.RunnerPool) { p.Spec.MinIdle, p.Spec.MaxRunners = 5, 2 }, "minIdle must not be greater than maxRunners"},
	"maxRunners above cap":     {gen.WithMaxRunners(1001), "should be less than or equal to 1000"},
	"negative maxRunners":      {gen.WithMaxRunners(-1), "should be greater than or equal to 0"},
	"negative minIdle":         {gen.WithMinIdle(-1), "should be greater than or equal to 0"},
	"pool name too long": {func(p *corralv1.RunnerPool) { p.Name = strings.Repeat("p", 41) },
		"metadata.name must be at most 40 characters"},

	// labels
	"empty label":                {gen.WithLabels("linux", ""), "should be at least 1 chars long"},
	"duplicate label":            {gen.WithLabels("linux", "linux"), "Duplicate value"},
	"duplicate label other case": {gen.WithLabels("Linux", "linux"), "labels must be unique, compared case-insensitively"},
	"label with comma":           {gen.WithLabels("linux,arm64"), "should match"},
	"label with space":           {gen.WithLabels("big machine"), "should match"},
	"label too long":             {gen.WithLabels(strings.Repeat("x", 65)), "may not be more than 64"},
	"too many labels":            {gen.WithLabels(manyLabels(33)...), "must have at most 32 items"},
	"self-hosted label":          {gen.WithLabels("Self-Hosted"), "labels must not contain self-hosted"},
	"runner group too long": {spec(func(s *corralv1.RunnerPoolSpec) { s.RunnerGroup = strings.Repeat("g", 129) }),
		"spec.runnerGroup"},

	// template
	"unknown pull policy": {spec(func(s *corralv1.RunnerPoolSpec) { s.Template.ImagePullPolicy = "Sometimes" }),
		"Unsupported value: \"Sometimes\""},
	"env overrides jit config": {gen.WithEnv("ACTIONS_RUNNER_INPUT_JITCONFIG", "x"), "env must not set ACTIONS_RUNNER_INPUT_JITCONFIG"},
	"env overrides trap":       {gen.WithEnv("RUNNER_MANUALLY_TRAP_SIG", "0"), "env must not set"},
	"duplicate env":            {func(p *corralv1.RunnerPool) { gen.WithEnv("A", "1")(p); gen.WithEnv("A", "2")(p) }, "Duplicate value"},

	// sandbox
	"unknown containers mode": {gen.WithContainers("Docker"), "Unsupported value: \"Docker\""},
	"unknown networking":      {gen.WithNetworking("Bridge"), "Unsupported value: \"Bridge\""},
	"unknown seccomp type":    {gen.WithSeccomp("Permissive", ""), "Unsupported value: \"Permissive\""},
	"localhost seccomp without path": {gen.WithSeccomp(corralv1.SeccompLocalhost, ""),
		"seccompProfile.localhostProfile is required when type is Localhost"},
	"unconfined seccomp with path": {gen.WithSeccomp(corralv1.SeccompUnconfined, "corral/podman.json"),
		"localhostProfile may only be set when type is Localhost"},
	"absolute seccomp path": {gen.WithSeccomp(corralv1.SeccompLocalhost, "/etc/podman.json"),
		"localhostProfile must be a relative path"},
	"seccomp path escapes": {gen.WithSeccomp(corralv1.SeccompLocalhost, "../../podman.json"),
		"localhostProfile must be a relative path"},
	"podman under runtime default seccomp": {gen.WithSeccomp(corralv1.SeccompRuntimeDefault, ""),
		"containers Podman cannot run under the RuntimeDefault seccomp profile"},
	"none mode unconfined seccomp": {func(p *corralv1.RunnerPool) {
		gen.WithContainers(corralv1.ContainersNone)(p)
		gen.WithSeccomp(corralv1.SeccompUnconfined, "")(p)
	}, "containers None relaxes nothing"},
	"none mode with networking": {func(p *corralv1.RunnerPool) {
		gen.WithContainers(corralv1.ContainersNone)(p)
		gen.WithNetworking(corralv1.NestedNetworkingHost)(p)
	}, "networking applies to containers Podman only"},
	"user namespace with explicit isolated networking and the tun hostPath": {func(p *corralv1.RunnerPool) {
		gen.WithNetworking(corralv1.NestedNetworkingIsolated)(p)
		gen.WithTunDevice(corralv1.TunHostPath)(p)
		gen.WithUserNamespace(true)(p)
	}, "userNamespace with Isolated networking needs tunDevice DevicePlugin"},
	"user namespace with the tun hostPath": {func(p *corralv1.RunnerPool) {
		gen.WithTunDevice(corralv1.TunHostPath)(p)
		gen.WithUserNamespace(true)(p)
	}, "userNamespace with Isolated networking needs tunDevice DevicePlugin"},
	"tun device plugin with host networking": {func(p *corralv1.RunnerPool) {
		gen.WithNetworking(corralv1.NestedNetworkingHost)(p)
		gen.WithTunDevice(corralv1.TunDevicePlugin)(p)
	}, "tunDevice applies to containers Podman with networking Isolated only"},
	"tun device in none mode": {func(p *corralv1.RunnerPool) {
		gen.WithContainers(corralv1.ContainersNone)(p)
		gen.WithTunDevice(corralv1.TunHostPath)(p)
	}, "tunDevice applies to containers Podman with networking Isolated only"},
	"unknown tun device": {gen.WithTunDevice("CDI"), "Unsupported value: \"CDI\""},
	"tun resource in limits": {gen.WithResources(corev1.ResourceRequirements{
		Limits: corev1.ResourceList{"corral.run/tun": resource.MustParse("1")}}), "resources may not name corral.run/tun"},
	"tun resource in requests": {gen.WithResources(corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"corral.run/tun": resource.MustParse("1")}}), "resources may not name corral.run/tun"},
	"none mode unconfined apparmor": {func(p *corralv1.RunnerPool) {
		gen.WithContainers(corralv1.ContainersNone)(p)
		p.Spec.Sandbox.AppArmorProfile = &corralv1.AppArmorProfile{Type: corralv1.AppArmorUnconfined}
	}, "appArmorProfile must not be Unconfined"},
	"localhost apparmor without profile": {spec(func(s *corralv1.RunnerPoolSpec) {
		s.Sandbox.AppArmorProfile = &corralv1.AppArmorProfile{Type: corralv1.AppArmorLocalhost}
	}), "appArmorProfile.localhostProfile is required"},
	"work volume too small": {spec(func(s *corralv1.RunnerPoolSpec) {
		s.Sandbox.WorkVolume.SizeLimit = ptr.To(resource.MustParse("100Mi"))
	}), "workVolume.sizeLimit must be at least 1Gi"},
	"work volume unknown medium": {spec(func(s *corralv1.RunnerPoolSpec) { s.Sandbox.WorkVolume.Medium = "HugePages" }),
		"Unsupported value: \"HugePages\""},
	"runtime class invalid": {spec(func(s *corralv1.RunnerPoolSpec) { s.Sandbox.RuntimeClassName = ptr.To("G Visor") }),
		"spec.sandbox.runtimeClassName"},

	// network
	"unknown egress mode":       {gen.WithEgress("Everything"), "Unsupported value: \"Everything\""},
	"egress none without allow": {gen.WithEgress(corralv1.EgressNone), "egress None needs at least one allow rule"},
	"cidr prefix too long":      {gen.WithAllowCIDR("10.0.0.0/33", 443), "cidr must be an IPv4 or IPv6 CIDR"},
	"cidr garbage":              {gen.WithAllowCIDR("not-a-cidr", 443), "cidr must be an IPv4 or IPv6 CIDR"},
	"cidr bare address":         {gen.WithAllowCIDR("10.1.2.3", 443), "cidr must be an IPv4 or IPv6 CIDR"},
	"ipv6 cidr too long":        {gen.WithAllowCIDR("fd00::/129", 443), "cidr must be an IPv4 or IPv6 CIDR"},
	"cidr with host bits":       {gen.WithAllowCIDR("10.20.0.5/24", 443), "cidr must be in canonical form"},
	"ipv6 cidr with host bits":  {gen.WithAllowCIDR("fd00::1/64", 443), "cidr must be in canonical form"},
	"allow rule empty":          {allow(corralv1.AllowRule{Ports: tcp(443)}), "an allow rule needs either cidr or podSelector/namespaceSelector"},
	"allow rule cidr and selector": {allow(corralv1.AllowRule{CIDR: ptr.To("10.0.0.0/8"), PodSelector: &metav1.LabelSelector{}}),
		"an allow rule needs either cidr or podSelector/namespaceSelector, not both"},
	"port zero":     {gen.WithAllowCIDR("10.0.0.0/8", 0), "should be greater than or equal to 1"},
	"port too high": {gen.WithAllowCIDR("10.0.0.0/8", 70000), "should be less than or equal to 65535"},
	"end port below port": {allow(corralv1.AllowRule{CIDR: ptr.To("10.0.0.0/8"),
		Ports: []corralv1.PortRule{{Port: 8080, EndPort: ptr.To[int32](80)}}}), "endPort must not be lower than port"},
	"unknown protocol": {allow(corralv1.AllowRule{CIDR: ptr.To("10.0.0.0/8"),
		Ports: []corralv1.PortRule{{Port: 53, Protocol: "ICMP"}}}), "Unsupported value: \"ICMP\""},
	"too many allow rules": {func(p *corralv1.RunnerPool) {
		for i := range 33 {
			gen.WithAllowCIDR(fmt.Sprintf("10.%d.0.0/16", i), 443)(p)
		}
	}, "must have at most 32 items"},
	"dns cidr invalid": {spec(func(s *corralv1.RunnerPoolSpec) { s.Network.DNS.CIDR = ptr.To("169.254.20.10") }),
		"dns.cidr must be an IPv4 or IPv6 CIDR"},
	"dns port zero": {spec(func(s *corralv1.RunnerPoolSpec) { s.Network.DNS.Ports = []int32{0} }),
		"should be greater than or equal to 1"},
	"dns namespace invalid": {spec(func(s *corralv1.RunnerPoolSpec) { s.Network.DNS.Namespace = "Kube_System" }),
		"spec.network.dns.namespace"},
}

var validPools = map[string]gen.PoolModifier{
	"organization":   gen.WithURL("https://github.com/acme"),
	"repository":     gen.WithURL("https://github.com/acme/app"),
	"enterprise":     gen.WithURL("https://github.com/enterprises/acme"),
	"ghes with port": gen.WithURL("https://ghes.example.com:8443/acme/"),
	"scale to zero":  func(p *corralv1.RunnerPool) { p.Spec.MinIdle, p.Spec.MaxRunners = 0, 5 },
	"paused":         func(p *corralv1.RunnerPool) { p.Spec.MinIdle, p.Spec.MaxRunners = 0, 0 },
	"max at cap":     gen.WithMaxRunners(1000),
	"labels":         gen.WithLabels("linux", "ARM64", "podman", "gpu.large", "team/a"),
	"user namespace with isolated networking (the tun device plugin by default)": gen.WithUserNamespace(true),
	"user namespace with explicit isolated networking": func(p *corralv1.RunnerPool) {
		gen.WithNetworking(corralv1.NestedNetworkingIsolated)(p)
		gen.WithUserNamespace(true)(p)
	},
	"user namespace with host networking": func(p *corralv1.RunnerPool) {
		gen.WithNetworking(corralv1.NestedNetworkingHost)(p)
		gen.WithUserNamespace(true)(p)
	},
	"user namespace without containers": func(p *corralv1.RunnerPool) {
		gen.WithContainers(corralv1.ContainersNone)(p)
		gen.WithUserNamespace(true)(p)
	},
	"host networking": func(p *corralv1.RunnerPool) {
		gen.WithNetworking(corralv1.NestedNetworkingHost)(p)
		gen.WithSeccomp(corralv1.SeccompLocalhost, "corral/podman.json")(p)
		p.Spec.Sandbox.AppArmorProfile = &corralv1.AppArmorProfile{Type: corralv1.AppArmorLocalhost, LocalhostProfile: ptr.To("corral-podman")}
	},
	"no containers": func(p *corralv1.RunnerPool) {
		gen.WithContainers(corralv1.ContainersNone)(p)
		gen.WithSeccomp(corralv1.SeccompRuntimeDefault, "")(p)
	},
	"egress none with proxy": func(p *corralv1.RunnerPool) {
		gen.WithEgress(corralv1.EgressNone)(p)
		gen.WithAllowCIDR("10.20.0.10/32", 3128)(p)
	},
	"ipv6 allow":   gen.WithAllowCIDR("fd00:1::/64", 443),
	"allow by pod": allow(corralv1.AllowRule{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "ghes"}}, Ports: tcp(443)}),
	"port range": allow(corralv1.AllowRule{CIDR: ptr.To("10.0.0.0/8"),
		Ports: []corralv1.PortRule{{Port: 8000, EndPort: ptr.To[int32](8100), Protocol: corev1.ProtocolTCP}}}),
	"node local dns": spec(func(s *corralv1.RunnerPoolSpec) {
		s.Network.DNS.CIDR = ptr.To("169.254.20.10/32")
		s.Network.DNS.Ports = []int32{53, 5353}
	}),
	"unrestricted": gen.WithEgress(corralv1.EgressUnrestricted),
	"of a class":   gen.WithClass("shared"),
	"of a class that may allow more": func(p *corralv1.RunnerPool) {
		gen.WithClass("shared")(p)
		gen.WithSELinuxType("container_engine_t")(p)
		gen.WithSeccomp(corralv1.SeccompLocalhost, "acme/builds.json")(p)
		gen.WithTolerations(corev1.Toleration{Key: "ci", Operator: corev1.TolerationOpExists})(p)
		p.Spec.Template.Env = []corev1.EnvVar{{Name: "CFG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "x"}}}}
	},
	"selinux within baseline": gen.WithSELinuxType("container_engine_t"),
	"tun device plugin":       gen.WithTunDevice(corralv1.TunDevicePlugin),
	"tun device plugin at baseline": func(p *corralv1.RunnerPool) {
		gen.WithNetworking(corralv1.NestedNetworkingIsolated)(p)
		gen.WithTunDevice(corralv1.TunDevicePlugin)(p)
		gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile)(p)
	},
	"tun hostPath":       gen.WithTunDevice(corralv1.TunHostPath),
	"a plain toleration": gen.WithTolerations(corev1.Toleration{Key: "ci", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}),
	"env and proxy": func(p *corralv1.RunnerPool) {
		gen.WithEnv("FOO", "bar")(p)
		p.Spec.GitHub.Proxy = &corralv1.ProxySpec{HTTPSProxy: "http://proxy.internal:3128", NoProxy: []string{".svc", "10.0.0.0/8"}}
	},
	"name at limit": func(p *corralv1.RunnerPool) { p.Name = strings.Repeat("p", 40) },
}

var _ = Describe("RunnerPool validation", func() {
	var ns string
	BeforeEach(func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
	})

	It("rejects at least 40 kinds of invalid pools", func() {
		Expect(len(invalidPools)).To(BeNumerically(">=", 40))
	})

	for name, tc := range invalidPools {
		It("rejects "+name, func() {
			pool := gen.RunnerPool("pool", gen.WithNamespace(ns), tc.mutate)
			err := k8s.Create(ctx, pool)
			Expect(err).To(HaveOccurred(), "the API server accepted an invalid pool")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}

	for name, mutate := range validPools {
		It("accepts "+name, func() {
			pool := gen.RunnerPool("pool", gen.WithNamespace(ns), mutate)
			pool.Name = strings.ToLower(pool.Name)
			Expect(k8s.Create(ctx, pool)).To(Succeed())
		})
	}

	It("keeps the GitHub URL immutable", func() {
		pool := gen.RunnerPool("immutable", gen.WithNamespace(ns))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		pool.Spec.GitHub.URL = "https://github.com/other"
		err := k8s.Update(ctx, pool)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("url is immutable"))
	})

	It("lets other fields change", func() {
		pool := gen.RunnerPool("mutable", gen.WithNamespace(ns))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		pool.Spec.MaxRunners = 20
		pool.Spec.Labels = []string{"linux"}
		pool.Spec.GitHub.CredentialsSecretRef.Name = "other-app"
		Expect(k8s.Update(ctx, pool)).To(Succeed())
	})

	It("keeps a pool in its class: classRef cannot be set, changed or removed", func() {
		own := gen.RunnerPool("own", gen.WithNamespace(ns))
		Expect(k8s.Create(ctx, own)).To(Succeed())
		gen.WithClass("shared")(own)
		err := k8s.Update(ctx, own)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("classRef is immutable"))

		member := gen.RunnerPool("member", gen.WithNamespace(ns), gen.WithClass("shared"))
		Expect(k8s.Create(ctx, member)).To(Succeed())
		member.Spec.ClassRef.Name = "wider"
		err = k8s.Update(ctx, member)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("classRef is immutable"))
	})

	It("drops a namespace on a credentials reference: a pool's own Secret is in its own namespace", func() {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(corralv1.GroupVersion.String())
		u.SetKind("RunnerPool")
		u.SetNamespace(ns)
		u.SetName("sneaky")
		Expect(unstructured.SetNestedField(u.Object, map[string]any{
			"url": "https://github.com/acme", "credentialsSecretRef": map[string]any{"name": "acme-app", "namespace": "corral-system"},
		}, "spec", "github")).To(Succeed())
		Expect(k8s.Create(ctx, u)).To(Succeed())
		got := &corralv1.RunnerPool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), got)).To(Succeed())
		raw, err := json.Marshal(got.Spec.GitHub.CredentialsSecretRef)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).To(Equal(`{"name":"acme-app"}`), "the API server prunes the namespace")
	})
})
