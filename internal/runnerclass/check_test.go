package runnerclass

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

// classPool is a Host-networking Podman pool of class "shared" (which the default class
// allows: Localhost seccomp, RuntimeDefault AppArmor), changed by mods.
func classPool(mods ...gen.PoolModifier) *corralv1.RunnerPool {
	base := []gen.PoolModifier{gen.WithClass("shared"), gen.WithNetworking(corralv1.NestedNetworkingHost)}
	return gen.RunnerPool("builders", append(base, mods...)...)
}

// violations checks pool against class the way the controller does: the spec, then the
// pod built from the effective pool.
func violations(pool *corralv1.RunnerPool, class *corralv1.RunnerClass) []Violation {
	eff := Effective(pool, class)
	vs := CheckPool(pool, class)
	return append(vs, CheckPod(runner.BuildPod(eff, "builders-000000-aaaaa", "s"), class)...)
}

// TestCheck tries, one field at a time, what a tenant could write to get more than its
// class gives; each must be refused with a message naming the field.
func TestCheck(t *testing.T) {
	tol := func(key string) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	}
	for _, tc := range []struct {
		name  string
		class []gen.ClassModifier
		pool  []gen.PoolModifier
		field string // "" = no violation
	}{
		{"the defaults fit the default class", nil, nil, ""},
		{"another host gets no credential", nil, []gen.PoolModifier{gen.WithURL("https://evil.example/acme")}, "spec.github.url"},
		{"a look-alike host", nil, []gen.PoolModifier{gen.WithURL("https://github.com.evil.example/acme")}, "spec.github.url"},
		{"another organization", nil, []gen.PoolModifier{gen.WithURL("https://github.com/other")}, "spec.github.url"},
		{"a repository of an allowed organization is not implied", nil, []gen.PoolModifier{gen.WithURL("https://github.com/acme/app")}, "spec.github.url"},
		{"a repository the class lists", []gen.ClassModifier{repos("acme/app")}, []gen.PoolModifier{gen.WithURL("https://github.com/acme/app")}, ""},
		{"a repository under OWNER/*", []gen.ClassModifier{repos("acme/*")}, []gen.PoolModifier{gen.WithURL("https://github.com/ACME/app")}, ""},
		{"an enterprise the class does not list", nil, []gen.PoolModifier{gen.WithURL("https://github.com/enterprises/acme")}, "spec.github.url"},
		{"a runner group the class does not list", nil, []gen.PoolModifier{gen.WithRunnerGroup("admins")}, "spec.runnerGroup"},
		{"a runner group the class lists", []gen.ClassModifier{groups("ci", "Default")}, []gen.PoolModifier{gen.WithRunnerGroup("CI")}, ""},
		{"more runners than the class allows", []gen.ClassModifier{maxPerPool(5)}, []gen.PoolModifier{gen.WithMaxRunners(6)}, "spec.maxRunners"},
		{"Isolated's defaults (the tun device plugin, baseline profiles)", nil, []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated)}, ""},
		{"seccomp Unconfined (the tun hostPath's default)", nil, []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath)}, "spec.sandbox.seccompProfile"},
		{"seccomp Unconfined once the class allows it", []gen.ClassModifier{seccomp("Unconfined", "RuntimeDefault"), apparmor("Unconfined", "RuntimeDefault"), tun(corralv1.TunHostPath)},
			[]gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath)}, ""},
		{"the tun hostPath, even with Localhost profiles", nil, []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath),
			gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile)}, "spec.sandbox.tunDevice"},
		{"the tun hostPath once the class lists it", []gen.ClassModifier{tun(corralv1.TunHostPath, corralv1.TunDevicePlugin)}, []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated), gen.WithTunDevice(corralv1.TunHostPath),
			gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile), gen.WithAppArmor(corralv1.AppArmorRuntimeDefault, "")}, ""},
		{"the default tun device plugin where the class lists only HostPath", []gen.ClassModifier{tun(corralv1.TunHostPath)},
			[]gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingIsolated)}, "spec.sandbox.tunDevice"},
		{"Host networking needs no tun device, whatever the class lists", []gen.ClassModifier{tun(corralv1.TunHostPath)}, []gen.PoolModifier{gen.WithNetworking(corralv1.NestedNetworkingHost)}, ""},
		{"a Localhost seccomp profile the class does not list", nil, []gen.PoolModifier{gen.WithSeccomp(corralv1.SeccompLocalhost, "evil/allow-all.json")}, "spec.sandbox.seccompProfile"},
		{"AppArmor Unconfined", nil, []gen.PoolModifier{gen.WithAppArmor(corralv1.AppArmorUnconfined, "")}, "spec.sandbox.appArmorProfile"},
		{"a Localhost AppArmor profile the class does not list", nil, []gen.PoolModifier{gen.WithAppArmor(corralv1.AppArmorLocalhost, "unconfined-ish")}, "spec.sandbox.appArmorProfile"},
		{"SELinux spc_t", nil, []gen.PoolModifier{gen.WithSELinuxType("spc_t")}, "spec.sandbox.seLinuxOptions"},
		{"SELinux container_engine_t once allowed", []gen.ClassModifier{selinux("container_engine_t")}, []gen.PoolModifier{gen.WithSELinuxType("container_engine_t")}, ""},
		{"a runtime class the class does not list", nil, []gen.PoolModifier{gen.WithRuntimeClass("runc-unsafe")}, "spec.sandbox.runtimeClassName"},
		{"no user namespace where required", []gen.ClassModifier{userns()}, nil, "spec.sandbox.userNamespace"},
		{"a user namespace where required", []gen.ClassModifier{userns()}, []gen.PoolModifier{gen.WithUserNamespace(true)}, ""},
		{"containers mode not allowed", []gen.ClassModifier{containers(corralv1.ContainersNone)}, nil, "spec.sandbox.containers"},
		{"a bigger work volume", []gen.ClassModifier{maxWork("10Gi")}, nil, "spec.sandbox.workVolume.sizeLimit"},
		{"more CPU than the class allows", []gen.ClassModifier{maxCPU("1")}, nil, "spec.template.resources"},
		{"the control plane's toleration", nil, []gen.PoolModifier{gen.WithTolerations(tol("node-role.kubernetes.io/control-plane"))}, "spec.template.tolerations[0]"},
		{"tolerate everything", nil, []gen.PoolModifier{gen.WithTolerations(corev1.Toleration{Operator: corev1.TolerationOpExists})}, "spec.template.tolerations[0]"},
		{"a toleration the class lists", []gen.ClassModifier{tolerations(tol("ci"))}, []gen.PoolModifier{gen.WithTolerations(tol("ci"))}, ""},
		{"system-node-critical", nil, []gen.PoolModifier{gen.WithPriorityClass("system-node-critical")}, "spec.template.priorityClassName"},
		{"a nodeSelector against the class's", []gen.ClassModifier{nodeSelector("pool", "ci")}, []gen.PoolModifier{gen.WithNodeSelector(map[string]string{"pool": "infra"})}, "spec.template.nodeSelector"},
		{"Unrestricted egress", nil, []gen.PoolModifier{gen.WithEgress(corralv1.EgressUnrestricted)}, "spec.network.egress"},
		{"a private range", nil, []gen.PoolModifier{gen.WithAllowCIDR("10.0.0.0/8", 443)}, "spec.network.allow[0]"},
		{"the metadata endpoint", []gen.ClassModifier{cidrs("10.20.0.0/16")}, []gen.PoolModifier{gen.WithAllowCIDR("169.254.169.254/32", 80)}, "spec.network.allow[0]"},
		{"a range wider than the class's", []gen.ClassModifier{cidrs("10.20.0.0/16")}, []gen.PoolModifier{gen.WithAllowCIDR("10.0.0.0/8", 443)}, "spec.network.allow[0]"},
		{"a range inside the class's", []gen.ClassModifier{cidrs("10.20.0.0/16")}, []gen.PoolModifier{gen.WithAllowCIDR("10.20.3.0/24", 443)}, ""},
		{"every namespace's pods", nil, []gen.PoolModifier{gen.WithAllowPods(nil, map[string]string{}, 5432)}, "spec.network.allow[0]"},
		{"its own namespace's pods", nil, []gen.PoolModifier{gen.WithAllowPods(map[string]string{"app": "db"}, nil, 5432)}, ""},
		{"its own DNS server", nil, []gen.PoolModifier{gen.WithDNS(corralv1.DNSSpec{Namespace: "kube-system", CIDR: ptr.To("10.0.0.0/8"), Ports: []int32{22}})}, "spec.network.dns"},
		{"an image outside the class's registries", []gen.ClassModifier{images("ghcr.io/acme/")}, nil, "spec.template.image"},
		{"env read from a Secret", nil, []gen.PoolModifier{envFromSecret}, "spec.template.env[0]"},
		{"no audit where the class requires it", []gen.ClassModifier{gen.WithClassAudit(corralv1.AuditRequired)}, nil, "spec.audit.enabled"},
		{"audit where the class requires it", []gen.ClassModifier{gen.WithClassAudit(corralv1.AuditRequired)}, []gen.PoolModifier{gen.WithAudit()}, ""},
		{"audit where the class forbids it", []gen.ClassModifier{gen.WithClassAudit(corralv1.AuditForbidden)}, []gen.PoolModifier{gen.WithAudit("/etc/")}, "spec.audit.enabled"},
		{"audit where the class leaves it to the pool", nil, []gen.PoolModifier{gen.WithAudit("/etc/")}, ""},
		{"env read from a Secret once allowed", []gen.ClassModifier{func(c *corralv1.RunnerClass) { c.Spec.Template.EnvFromSecrets = true }}, []gen.PoolModifier{envFromSecret}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := violations(classPool(tc.pool...), gen.RunnerClass("shared", tc.class...))
			if tc.field == "" {
				if len(vs) != 0 {
					t.Fatalf("unexpected violations: %v", vs)
				}
				return
			}
			for _, v := range vs {
				if v.Field == tc.field && v.Message != "" {
					return
				}
			}
			t.Fatalf("want a violation of %s, got %v", tc.field, vs)
		})
	}
}

func TestAdmits(t *testing.T) {
	class := gen.RunnerClass("shared", gen.WithClassNamespaces(map[string]string{"corral.run/tenant": "true"}))
	for labels, want := range map[*map[string]string]bool{
		{"corral.run/tenant": "true"}:  true,
		{"corral.run/tenant": "false"}: false,
		{}:                             false,
	} {
		if got, err := Admits(class, *labels); err != nil || got != want {
			t.Errorf("Admits(%v) = %v, %v; want %v", *labels, got, err, want)
		}
	}
	if ok, _ := Admits(gen.RunnerClass("all"), map[string]string{"x": "y"}); !ok {
		t.Errorf("an empty selector admits every namespace")
	}
	bad := gen.RunnerClass("bad")
	bad.Spec.NamespaceSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}
	if _, err := Admits(bad, nil); err == nil {
		t.Errorf("a broken selector must be an error, not a match")
	}
}

// TestEffective: the class's connection settings and scheduling replace whatever the pool
// carried; nothing of the pool's own credentials setup survives.
func TestEffective(t *testing.T) {
	class := gen.RunnerClass("shared", nodeSelector("pool", "ci"), func(c *corralv1.RunnerClass) {
		c.Spec.GitHub.Proxy = &corralv1.ProxySpec{HTTPSProxy: "http://proxy.corral-system:3128"}
		c.Spec.GitHub.CABundle = &corralv1.ConfigMapKeyRef{Name: "ghes-ca", Key: "ca.crt"}
		c.Spec.Network.DNS = &corralv1.DNSSpec{CIDR: ptr.To("169.254.20.10/32")}
	})
	pool := classPool(gen.WithNodeSelector(map[string]string{"arch": "arm64"}))
	pool.Spec.GitHub.Proxy = &corralv1.ProxySpec{HTTPSProxy: "http://tenant-proxy:3128"}
	eff := Effective(pool, class)
	if eff.Spec.GitHub.Proxy.HTTPSProxy != "http://proxy.corral-system:3128" || eff.Spec.GitHub.CABundle.Name != "builders-corral-ca" {
		t.Errorf("proxy %+v, CA %+v: want the class's", eff.Spec.GitHub.Proxy, eff.Spec.GitHub.CABundle)
	}
	if eff.Spec.Network.DNS.Namespace != "kube-system" || *eff.Spec.Network.DNS.CIDR != "169.254.20.10/32" {
		t.Errorf("dns %+v: want the class's", eff.Spec.Network.DNS)
	}
	if eff.Spec.Template.NodeSelector["pool"] != "ci" || eff.Spec.Template.NodeSelector["arch"] != "arm64" {
		t.Errorf("nodeSelector %v", eff.Spec.Template.NodeSelector)
	}
	if pool.Spec.GitHub.Proxy.HTTPSProxy != "http://tenant-proxy:3128" || len(pool.Spec.Template.NodeSelector) != 1 {
		t.Errorf("Effective changed its input")
	}
	if Effective(pool, nil) != pool {
		t.Errorf("without a class the pool is unchanged")
	}
}

func TestNamespaceBudget(t *testing.T) {
	class := gen.RunnerClass("shared", func(c *corralv1.RunnerClass) { c.Spec.Limits.MaxRunnersPerNamespace = ptr.To[int32](10) })
	mk := func(name string, age time.Duration, max int32, mods ...gen.PoolModifier) corralv1.RunnerPool {
		p := classPool(append([]gen.PoolModifier{gen.WithMaxRunners(max)}, mods...)...)
		p.Name, p.CreationTimestamp = name, metav1.NewTime(time.Unix(1e9, 0).Add(-age))
		return *p
	}
	older, newer := mk("older", time.Hour, 6), mk("newer", time.Minute, 6)
	other := mk("other", 2*time.Hour, 100, func(p *corralv1.RunnerPool) { p.Spec.ClassRef.Name = "another" })
	all := []corralv1.RunnerPool{newer, other, older}
	if v := CheckNamespaceBudget(&older, all, class); v != nil {
		t.Errorf("the older pool keeps its budget: %v", v)
	}
	if v := CheckNamespaceBudget(&newer, all, class); v == nil || !strings.Contains(v.Message, "12") {
		t.Errorf("the newer pool takes the sum to 12 > 10: %v", v)
	}
}

func TestSummary(t *testing.T) {
	vs := []Violation{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}}
	if got := Summary("shared", vs); !strings.Contains(got, "a: 1; b: 2; c: 3") || !strings.Contains(got, "and 2 more") {
		t.Errorf("Summary = %q", got)
	}
}

func repos(r ...string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.GitHub.Repositories = r }
}
func groups(g ...string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.GitHub.RunnerGroups = g }
}
func maxPerPool(n int32) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Limits.MaxRunnersPerPool = &n }
}
func maxWork(q string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Limits.MaxWorkVolume = ptr.To(resource.MustParse(q)) }
}
func maxCPU(q string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) {
		c.Spec.Limits.MaxResources = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
}
func tun(d ...corralv1.TunDevice) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Sandbox.TunDevices = d }
}
func seccomp(p ...string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Sandbox.SeccompProfiles = p }
}
func apparmor(p ...string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Sandbox.AppArmorProfiles = p }
}
func selinux(types ...string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Sandbox.SELinuxTypes = types }
}
func userns() gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Sandbox.UserNamespace = corralv1.UserNamespaceRequired }
}
func containers(m ...corralv1.ContainersMode) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Sandbox.Containers = m }
}
func tolerations(t ...corev1.Toleration) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Scheduling.Tolerations = t }
}
func nodeSelector(k, v string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Scheduling.NodeSelector = map[string]string{k: v} }
}
func cidrs(cs ...string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Network.AllowedCIDRs = cs }
}
func images(prefixes ...string) gen.ClassModifier {
	return func(c *corralv1.RunnerClass) { c.Spec.Template.Images = prefixes }
}

func envFromSecret(p *corralv1.RunnerPool) {
	p.Spec.Template.Env = append(p.Spec.Template.Env, corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "deploy-keys"}, Key: "prod"},
	}})
}
