// Package gen builds RunnerPool fixtures for tests with small modifier functions:
//
//	pool := gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithMaxRunners(3))
//
// The fixture carries the defaults the CRD applies, so pure code sees what the API server
// would hand the controller.
package gen

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// PoolModifier changes a RunnerPool fixture.
type PoolModifier func(*corralv1.RunnerPool)

// RunnerPool returns a pool named name in namespace "default", for the org
// https://github.com/acme with credentials Secret "github-app", with the CRD's defaults
// applied, then modified by mods in order.
func RunnerPool(name string, mods ...PoolModifier) *corralv1.RunnerPool {
	p := &corralv1.RunnerPool{
		TypeMeta: metav1.TypeMeta{APIVersion: corralv1.GroupVersion.String(), Kind: "RunnerPool"},
		ObjectMeta: metav1.ObjectMeta{
			Name:       name,
			Namespace:  "default",
			UID:        types.UID("00000000-0000-0000-0000-" + padUID(name)),
			Generation: 1,
		},
		Spec: corralv1.RunnerPoolSpec{
			GitHub: corralv1.GitHubSpec{
				URL:                  "https://github.com/acme",
				CredentialsSecretRef: &corralv1.LocalSecretRef{Name: "github-app"},
			},
			RunnerGroup: "Default",
			MinIdle:     1,
			MaxRunners:  10,
			Template: corralv1.RunnerTemplate{
				Image:           "ghcr.io/corral-run/runner:2.330.0",
				ImagePullPolicy: corev1.PullIfNotPresent,
			},
			Sandbox: corralv1.SandboxSpec{
				Containers: corralv1.ContainersPodman,
				WorkVolume: corralv1.WorkVolume{SizeLimit: ptr.To(resource.MustParse("20Gi"))},
			},
			Network: corralv1.NetworkSpec{
				Egress: corralv1.EgressInternet,
				DNS:    corralv1.DNSSpec{Namespace: "kube-system"},
			},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// padUID turns a name into 12 hex-looking characters so fixture UIDs are stable and distinct.
func padUID(name string) string {
	const hex = "0123456789abcdef"
	out := []byte("000000000000")
	for i, c := range []byte(name) {
		out[i%12] = hex[(int(out[i%12])+int(c))%16]
	}
	return string(out)
}

// WithNamespace sets the pool's namespace.
func WithNamespace(ns string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Namespace = ns }
}

// WithUID sets the pool's UID.
func WithUID(uid string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.UID = types.UID(uid) }
}

// WithURL sets the GitHub scope URL.
func WithURL(url string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.GitHub.URL = url }
}

// WithCredentials sets the credentials Secret name.
func WithCredentials(name string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.GitHub.CredentialsSecretRef = &corralv1.LocalSecretRef{Name: name}
	}
}

// WithAdditionalCredentials sets spec.github.additionalCredentialsSecretRefs (nil for none).
func WithAdditionalCredentials(names ...string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.GitHub.AdditionalCredentialsSecretRefs = nil
		for _, n := range names {
			p.Spec.GitHub.AdditionalCredentialsSecretRefs = append(p.Spec.GitHub.AdditionalCredentialsSecretRefs, corralv1.LocalSecretRef{Name: n})
		}
	}
}

// WithLabels sets the runner labels.
func WithLabels(labels ...string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Labels = labels }
}

// WithMinIdle sets minIdle.
func WithMinIdle(n int32) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.MinIdle = n }
}

// WithMaxRunners sets maxRunners.
func WithMaxRunners(n int32) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.MaxRunners = n }
}

// WithImage sets the runner image.
func WithImage(image string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Template.Image = image }
}

// WithContainers sets the sandbox containers mode.
func WithContainers(mode corralv1.ContainersMode) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Sandbox.Containers = mode }
}

// WithNetworking sets the nested networking mode.
func WithNetworking(mode corralv1.NestedNetworking) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Sandbox.Networking = mode }
}

// WithTunDevice sets how the runner gets /dev/net/tun (Podman, Isolated networking).
func WithTunDevice(d corralv1.TunDevice) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Sandbox.TunDevice = d }
}

// WithSeccomp sets the runner container's seccomp profile; localhost is used for Localhost.
func WithSeccomp(t corralv1.SeccompProfileType, localhost string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		sp := &corralv1.SeccompProfile{Type: t}
		if localhost != "" {
			sp.LocalhostProfile = ptr.To(localhost)
		}
		p.Spec.Sandbox.SeccompProfile = sp
	}
}

// WithEgress sets the egress mode.
func WithEgress(mode corralv1.EgressMode) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Network.Egress = mode }
}

// WithAllowCIDR adds an allow rule for cidr on the given TCP ports.
func WithAllowCIDR(cidr string, ports ...int32) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		r := corralv1.AllowRule{CIDR: ptr.To(cidr)}
		for _, port := range ports {
			r.Ports = append(r.Ports, corralv1.PortRule{Port: port, Protocol: corev1.ProtocolTCP})
		}
		p.Spec.Network.Allow = append(p.Spec.Network.Allow, r)
	}
}

// WithEnv adds an environment variable to the runner container.
func WithEnv(name, value string) PoolModifier {
	return func(p *corralv1.RunnerPool) {
		p.Spec.Template.Env = append(p.Spec.Template.Env, corev1.EnvVar{Name: name, Value: value})
	}
}

// WithResources sets the runner container's resources.
func WithResources(r corev1.ResourceRequirements) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Template.Resources = r }
}

// WithNodeSelector sets the runner pods' node selector.
func WithNodeSelector(sel map[string]string) PoolModifier {
	return func(p *corralv1.RunnerPool) { p.Spec.Template.NodeSelector = sel }
}
