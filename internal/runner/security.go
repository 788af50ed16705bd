package runner

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// PodmanCapabilities are the only capabilities the runner container keeps in Podman mode:
// rootless podman's newuidmap/newgidmap (file capabilities cap_setuid/cap_setgid in the
// runner image) need them in the bounding set to write the nested user namespace's ID maps.
// Everything else is dropped; inside the nested user namespace podman gets a full set of
// its own, which confers nothing on the node.
func PodmanCapabilities() []corev1.Capability {
	return []corev1.Capability{"SETUID", "SETGID"}
}

// podSecurityContext is the pod-wide context: every container runs as UID/GID 1000, never as
// root, under the runtime's default seccomp profile unless a container says otherwise.
func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsUser:      ptr.To(RunnerUID),
		RunAsGroup:     ptr.To(RunnerGID),
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// confinedSecurityContext is the context of a container that needs nothing: no capability,
// no privilege escalation, a read-only root filesystem (Pod Security "restricted").
func confinedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
	}
}

// runnerSecurityContext is the runner container's context. In None mode it is fully
// confined. In Podman mode it holds exactly what rootless podman needs, confined to this
// one container:
//   - SETUID and SETGID in the bounding set and privilege escalation possible (no
//     no_new_privs), so the file-capability newuidmap/newgidmap work;
//   - a seccomp profile that allows clone/unshare/setns/mount/umount2/pivot_root/
//     sethostname/keyctl (Localhost corral/podman.json) or none at all (Unconfined);
//   - an AppArmor profile that allows mount and pivot_root (Localhost corral-podman) or
//     none (Unconfined), set through the container-level field only;
//   - the pool's SELinux options (e.g. type container_engine_t on SELinux nodes), if any;
//     the hardening chain refuses types that escape confinement such as spc_t.
//
// The root filesystem stays writable in Podman mode: podman stages image layers in
// /var/tmp, and jobs that build or run containers expect a normal system.
func runnerSecurityContext(pool *corralv1.RunnerPool) *corev1.SecurityContext {
	if !podmanEnabled(pool) {
		sc := confinedSecurityContext()
		sc.SeccompProfile = noneSeccomp(pool.Spec.Sandbox.SeccompProfile)
		sc.AppArmorProfile = noneAppArmor(pool.Spec.Sandbox.AppArmorProfile)
		return sc
	}
	return &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{
			Drop: []corev1.Capability{"ALL"},
			Add:  PodmanCapabilities(),
		},
		AllowPrivilegeEscalation: ptr.To(true),
		SeccompProfile:           podmanSeccomp(pool),
		AppArmorProfile:          podmanAppArmor(pool),
		SELinuxOptions:           pool.Spec.Sandbox.SELinuxOptions.DeepCopy(),
	}
}

// baselineDefaults reports whether a Podman pool's pod has no hostPath (Host networking, or
// Isolated with the tun device plugin), so its profile defaults are the ones Pod Security
// baseline allows instead of Unconfined: the pod can then grade baseline without the pool
// naming profiles.
func baselineDefaults(pool *corralv1.RunnerPool) bool {
	return nestedNetworking(pool) == corralv1.NestedNetworkingHost || TunDeviceOf(pool) == corralv1.TunDevicePlugin
}

// podmanSeccomp is the runner's seccomp profile in Podman mode. Defaults: Isolated
// networking with the tun hostPath Unconfined (as seed 000 runs it); Host networking, and
// Isolated with the tun device plugin, Localhost corral/podman.json (the runtime default plus
// the 9 syscalls rootless podman and buildah need; the Pod Security baseline allows it,
// Unconfined it does not).
func podmanSeccomp(pool *corralv1.RunnerPool) *corev1.SeccompProfile {
	p := pool.Spec.Sandbox.SeccompProfile
	if p == nil {
		if baselineDefaults(pool) {
			return localhostSeccomp(nil)
		}
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	}
	switch p.Type {
	case corralv1.SeccompLocalhost:
		return localhostSeccomp(p.LocalhostProfile)
	case corralv1.SeccompUnconfined:
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	default:
		// RuntimeDefault is rejected by the API for Podman (it blocks nested podman); a pool
		// that got past validation gets what it asked for, which is stricter, not looser.
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
}

// noneSeccomp is the runner's seccomp profile in None mode: the pool's Localhost profile if
// it names one, otherwise nothing at container level (the pod's RuntimeDefault applies).
// Unconfined is rejected by the API for None and never relaxed here.
func noneSeccomp(p *corralv1.SeccompProfile) *corev1.SeccompProfile {
	if p != nil && p.Type == corralv1.SeccompLocalhost {
		return localhostSeccomp(p.LocalhostProfile)
	}
	return nil
}

// localhostSeccomp is a Localhost seccomp profile, Corral's own when name is unset.
func localhostSeccomp(name *string) *corev1.SeccompProfile {
	profile := corralv1.DefaultSeccompLocalhostProfile
	if name != nil && *name != "" {
		profile = *name
	}
	return &corev1.SeccompProfile{
		Type:             corev1.SeccompProfileTypeLocalhost,
		LocalhostProfile: ptr.To(profile),
	}
}

// podmanAppArmor is the runner's AppArmor profile in Podman mode. Defaults: Isolated
// networking with the tun hostPath Unconfined; Host networking, and Isolated with the tun
// device plugin, the runtime default (set Localhost corral-podman on AppArmor nodes: the
// default profile denies mount).
//
// RuntimeDefault is expressed by leaving the field unset: the runtime applies its default
// profile anyway where AppArmor is enabled, while an explicit non-Unconfined profile makes
// the kubelet reject the pod on nodes without AppArmor. Only the container-level field is
// set (a pod-level profile would relax the init container too), and not the beta
// annotation: the API server (1.30+) mirrors the field into it for older kubelets, and
// clusters before 1.30 (no field) are not supported.
func podmanAppArmor(pool *corralv1.RunnerPool) *corev1.AppArmorProfile {
	p := pool.Spec.Sandbox.AppArmorProfile
	if p == nil {
		if baselineDefaults(pool) {
			return nil
		}
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	}
	switch p.Type {
	case corralv1.AppArmorLocalhost:
		return localhostAppArmor(p.LocalhostProfile)
	case corralv1.AppArmorUnconfined:
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	default:
		return nil
	}
}

// noneAppArmor is the runner's AppArmor profile in None mode: the pool's Localhost profile
// if it names one, otherwise the runtime default (unset). Unconfined is never applied.
func noneAppArmor(p *corralv1.AppArmorProfile) *corev1.AppArmorProfile {
	if p != nil && p.Type == corralv1.AppArmorLocalhost {
		return localhostAppArmor(p.LocalhostProfile)
	}
	return nil
}

// localhostAppArmor is a Localhost AppArmor profile, Corral's own when name is unset.
func localhostAppArmor(name *string) *corev1.AppArmorProfile {
	profile := corralv1.DefaultAppArmorLocalhostProfile
	if name != nil && *name != "" {
		profile = *name
	}
	return &corev1.AppArmorProfile{
		Type:             corev1.AppArmorProfileTypeLocalhost,
		LocalhostProfile: ptr.To(profile),
	}
}
