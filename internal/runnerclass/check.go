package runnerclass

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/runner"
)

// CheckPool returns the ways the pool's spec breaks class: its scope and runner group, its
// size, its sandbox and egress modes, its allow rules, DNS, image and environment. What
// the pod finally runs under (profiles, scheduling, resources) is checked on the built pod
// by CheckPod, so defaults count as much as what the pool wrote.
func CheckPool(pool *corralv1.RunnerPool, class *corralv1.RunnerClass) []Violation {
	var out []Violation
	add := func(field, format string, args ...any) {
		out = append(out, Violation{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	spec, c := pool.Spec, class.Spec
	if msg := ScopeProblem(spec.GitHub.URL, class); msg != "" {
		add("spec.github.url", "%s", msg)
	}
	if !containsFold(RunnerGroups(class), spec.RunnerGroup) {
		add("spec.runnerGroup", "runner group %q is not allowed (allowed: %s)", spec.RunnerGroup, list(RunnerGroups(class)))
	}
	if m := c.Limits.MaxRunnersPerPool; m != nil && spec.MaxRunners > *m {
		add("spec.maxRunners", "%d exceeds the class's limit of %d runners per pool", spec.MaxRunners, *m)
	}
	if allowed := c.Sandbox.Containers; len(allowed) > 0 && !slices.Contains(allowed, spec.Sandbox.Containers) {
		add("spec.sandbox.containers", "%s is not allowed (allowed: %s)", spec.Sandbox.Containers, list(allowed))
	}
	if allowed := c.Sandbox.Networking; len(allowed) > 0 && spec.Sandbox.Containers == corralv1.ContainersPodman &&
		!slices.Contains(allowed, networking(spec.Sandbox)) {
		add("spec.sandbox.networking", "%s is not allowed (allowed: %s)", networking(spec.Sandbox), list(allowed))
	}
	if tun := runner.TunDeviceOf(pool); tun != "" && !slices.Contains(tunDevices(c.Sandbox), tun) {
		add("spec.sandbox.tunDevice", "%s is not allowed (allowed: %s)", tun, list(tunDevices(c.Sandbox)))
	}
	if m := c.Limits.MaxWorkVolume; m != nil && spec.Sandbox.WorkVolume.SizeLimit != nil && spec.Sandbox.WorkVolume.SizeLimit.Cmp(*m) > 0 {
		add("spec.sandbox.workVolume.sizeLimit", "%s exceeds the class's limit of %s", spec.Sandbox.WorkVolume.SizeLimit, m)
	}
	if !slices.Contains(egressModes(c.Network), spec.Network.Egress) {
		add("spec.network.egress", "%s is not allowed (allowed: %s)", spec.Network.Egress, list(egressModes(c.Network)))
	}
	for i, rule := range spec.Network.Allow {
		if msg := allowRuleProblem(rule, c.Network); msg != "" {
			add(fmt.Sprintf("spec.network.allow[%d]", i), "%s", msg)
		}
	}
	switch {
	case c.Audit == corralv1.AuditRequired && !spec.Audit.Enabled:
		add("spec.audit.enabled", "the class requires its pools to be audited: set spec.audit.enabled to true")
	case c.Audit == corralv1.AuditForbidden && spec.Audit.Enabled:
		add("spec.audit.enabled", "the class does not allow audited pools: remove spec.audit")
	}
	if customDNS(spec.Network.DNS) {
		add("spec.network.dns", "a pool of a class sends DNS where the class says: remove spec.network.dns")
	}
	if len(c.Template.Images) > 0 && !hasPrefix(spec.Template.Image, c.Template.Images) {
		add("spec.template.image", "%s does not start with an allowed prefix (%s)", spec.Template.Image, list(c.Template.Images))
	}
	for i, e := range spec.Template.Env {
		if e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil) && !c.Template.EnvFromSecrets {
			add(fmt.Sprintf("spec.template.env[%d]", i), "%s reads a Secret or ConfigMap, which every job's author could then read; the class does not allow it (template.envFromSecrets)", e.Name)
		}
	}
	for k, v := range spec.Template.NodeSelector {
		if want, ok := c.Scheduling.NodeSelector[k]; ok && want != v {
			add("spec.template.nodeSelector", "%s=%s contradicts the class's %s=%s", k, v, k, want)
		}
	}
	return out
}

// ScopeProblem says why a pool URL is outside the class's server and scopes ("" when it
// is inside). The controller asks it again right before it hands the class's credentials
// to a client: they go to the class's server and nowhere else.
func ScopeProblem(rawURL string, class *corralv1.RunnerClass) string {
	gh := class.Spec.GitHub
	scope, err := github.ParseScope(rawURL)
	if err != nil {
		return err.Error()
	}
	server, err := github.ParseServer(gh.Server)
	if err != nil {
		return "the class's server is unusable: " + err.Error()
	}
	if !strings.EqualFold(scope.Host, server) {
		return fmt.Sprintf("host %s is not the class's server %s: the class's credentials go nowhere else", scope.Host, server)
	}
	switch scope.Kind {
	case github.ScopeOrganization:
		if !containsFold(gh.Organizations, scope.Owner) {
			return fmt.Sprintf("organization %s is not allowed by the class (organizations: %s)", scope.Owner, list(gh.Organizations))
		}
	case github.ScopeRepository:
		repo := scope.Owner + "/" + scope.Repo
		if !containsFold(gh.Repositories, repo) && !containsFold(gh.Repositories, scope.Owner+"/*") {
			return fmt.Sprintf("repository %s is not allowed by the class (repositories: %s)", repo, list(gh.Repositories))
		}
	case github.ScopeEnterprise:
		if !containsFold(gh.Enterprises, scope.Enterprise) {
			return fmt.Sprintf("enterprise %s is not allowed by the class (enterprises: %s)", scope.Enterprise, list(gh.Enterprises))
		}
	}
	return ""
}

// allowRuleProblem says why an allow rule opens more than the class allows.
func allowRuleProblem(rule corralv1.AllowRule, n corralv1.ClassNetwork) string {
	if rule.CIDR != nil {
		p, err := netip.ParsePrefix(*rule.CIDR)
		if err != nil {
			return fmt.Sprintf("cidr %s does not parse", *rule.CIDR)
		}
		for _, a := range n.AllowedCIDRs {
			if q, err := netip.ParsePrefix(a); err == nil && q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
				return ""
			}
		}
		return fmt.Sprintf("cidr %s is not within the class's allowedCIDRs (%s)", *rule.CIDR, list(n.AllowedCIDRs))
	}
	if rule.NamespaceSelector == nil {
		return "" // pods of the pool's own namespace
	}
	for i := range n.AllowedNamespaceSelectors {
		if equality.Semantic.DeepEqual(*rule.NamespaceSelector, n.AllowedNamespaceSelectors[i]) {
			return ""
		}
	}
	return "its namespaceSelector is not one of the class's allowedNamespaceSelectors"
}

// customDNS reports whether a pool changed spec.network.dns from the CRD's defaults.
func customDNS(d corralv1.DNSSpec) bool {
	return (d.Namespace != "" && d.Namespace != defaultDNSNamespace) || len(d.PodSelector) > 0 || d.CIDR != nil || len(d.Ports) > 0
}

// egressModes are the class's allowed egress modes, with the default.
func egressModes(n corralv1.ClassNetwork) []corralv1.EgressMode {
	if len(n.Egress) == 0 {
		return []corralv1.EgressMode{corralv1.EgressInternet, corralv1.EgressNone}
	}
	return n.Egress
}

// networking is the pool's nested networking mode with its default.
func networking(s corralv1.SandboxSpec) corralv1.NestedNetworking {
	if s.Networking == "" {
		return corralv1.NestedNetworkingIsolated
	}
	return s.Networking
}

// tunDevices are the ways to /dev/net/tun a class allows: DevicePlugin only unless it lists more.
func tunDevices(s corralv1.ClassSandbox) []corralv1.TunDevice {
	if len(s.TunDevices) == 0 {
		return []corralv1.TunDevice{corralv1.TunDevicePlugin}
	}
	return s.TunDevices
}

func containsFold[S ~string](list []S, v S) bool {
	for _, x := range list {
		if strings.EqualFold(string(x), string(v)) {
			return true
		}
	}
	return false
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// list renders allowed values for a message; "none" when empty.
func list[S ~string](vs []S) string {
	if len(vs) == 0 {
		return "none"
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// CheckNamespaceBudget says whether pool fits in the class's maxRunnersPerNamespace given
// all pools of its namespace: the class's pools share the budget, the oldest first, so a
// new pool cannot take runners from pools that were there before it.
func CheckNamespaceBudget(pool *corralv1.RunnerPool, namespacePools []corralv1.RunnerPool, class *corralv1.RunnerClass) *Violation {
	limit := class.Spec.Limits.MaxRunnersPerNamespace
	if limit == nil {
		return nil
	}
	var members []corralv1.RunnerPool
	for _, p := range namespacePools {
		if p.Spec.ClassRef != nil && p.Spec.ClassRef.Name == class.Name && p.DeletionTimestamp == nil {
			members = append(members, p)
		}
	}
	sort.Slice(members, func(i, j int) bool {
		a, b := members[i], members[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	var sum int32
	for _, p := range members {
		sum += p.Spec.MaxRunners
		if p.Name == pool.Name {
			if sum > *limit {
				return &Violation{Field: "spec.maxRunners", Message: fmt.Sprintf(
					"the class's pools in namespace %s may have %d runners in all; with the older pools' maxRunners this pool's %d takes it to %d",
					pool.Namespace, *limit, p.Spec.MaxRunners, sum)}
			}
			return nil
		}
	}
	return nil
}
