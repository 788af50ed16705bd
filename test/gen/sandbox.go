package gen

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Modifiers for the runner pod's sandbox, template and network settings, used by the
// runner and netpol builder tests.

// WithUserNamespace sets sandbox.userNamespace.
func WithUserNamespace(on bool) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Sandbox.UserNamespace = on }
}

// WithAppArmor sets the runner container's AppArmor profile; localhost is used for
// Localhost.
func WithAppArmor(t corralv1.AppArmorProfileType, localhost string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		ap := &corralv1.AppArmorProfile{Type: t}
		if localhost != "" {
			ap.LocalhostProfile = ptr.To(localhost)
		}
		p.Spec.Sandbox.AppArmorProfile = ap
	}
}

// WithSELinuxType sets the runner container's SELinux type (e.g. spc_t).
func WithSELinuxType(selinuxType string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.Sandbox.SELinuxOptions = &corev1.SELinuxOptions{Type: selinuxType}
	}
}

// WithRuntimeClass sets sandbox.runtimeClassName.
func WithRuntimeClass(name string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Sandbox.RuntimeClassName = ptr.To(name) }
}

// WithWorkVolume sets the work volume's size limit and medium.
func WithWorkVolume(size string, medium corev1.StorageMedium) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.Sandbox.WorkVolume = corralv1.WorkVolume{SizeLimit: ptr.To(resource.MustParse(size)), Medium: medium}
	}
}

// WithProxy sets the GitHub HTTP(S) proxy.
func WithProxy(httpProxy, httpsProxy string, noProxy ...string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.GitHub.Proxy = &corralv1.ProxySpec{HTTPProxy: httpProxy, HTTPSProxy: httpsProxy, NoProxy: noProxy}
	}
}

// WithCABundle sets the GitHub CA bundle ConfigMap key.
func WithCABundle(configMap, key string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.GitHub.CABundle = &corralv1.ConfigMapKeyRef{Name: configMap, Key: key}
	}
}

// WithTolerations sets the runner pods' tolerations.
func WithTolerations(t ...corev1.Toleration) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Template.Tolerations = t }
}

// WithAffinity sets the runner pods' affinity.
func WithAffinity(a *corev1.Affinity) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Template.Affinity = a }
}

// WithPriorityClass sets the runner pods' priority class.
func WithPriorityClass(name string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Template.PriorityClassName = name }
}

// WithImagePullSecrets sets the runner pods' image pull secrets.
func WithImagePullSecrets(names ...string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.Template.ImagePullSecrets = nil
		for _, n := range names {
			p.Spec.Template.ImagePullSecrets = append(p.Spec.Template.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
		}
	}
}

// WithRunnerGroup sets the runner group.
func WithRunnerGroup(group string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.RunnerGroup = group }
}

// WithAllowRule adds an egress allow rule.
func WithAllowRule(r corralv1.AllowRule) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Network.Allow = append(p.Spec.Network.Allow, r) }
}

// WithAllowPods adds an allow rule for pods matching podLabels in the namespaces matching
// nsLabels (nil: the pool's namespace) on the given TCP ports.
func WithAllowPods(podLabels, nsLabels map[string]string, ports ...int32) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		r := corralv1.AllowRule{}
		if podLabels != nil {
			r.PodSelector = &metav1.LabelSelector{MatchLabels: podLabels}
		}
		if nsLabels != nil {
			r.NamespaceSelector = &metav1.LabelSelector{MatchLabels: nsLabels}
		}
		for _, port := range ports {
			r.Ports = append(r.Ports, corralv1.PortRule{Port: port, Protocol: corev1.ProtocolTCP})
		}
		p.Spec.Network.Allow = append(p.Spec.Network.Allow, r)
	}
}

// WithDNS sets where the cluster resolver runs.
func WithDNS(dns corralv1.DNSSpec) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Network.DNS = dns }
}
