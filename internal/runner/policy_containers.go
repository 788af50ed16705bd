package runner

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// CheckNotPrivileged enforces: no container is privileged.
func CheckNotPrivileged(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	for _, c := range containers(pod) {
		if p := securityContext(c).Privileged; p != nil && *p {
			return ReasonPrivileged, fmt.Sprintf("container %q is privileged", c.Name), true
		}
	}
	return "", "", false
}

// CheckNoHostPorts enforces: no container binds a node port.
func CheckNoHostPorts(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	for _, c := range containers(pod) {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				return ReasonHostPort, fmt.Sprintf("container %q binds host port %d", c.Name, p.HostPort), true
			}
		}
	}
	return "", "", false
}

// CheckLimitsSet enforces: every init and regular container has CPU and memory limits.
func CheckLimitsSet(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	all := slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers)
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
				return ReasonLimitsMissing, fmt.Sprintf("container %q has no %s limit", c.Name, r), true
			}
		}
	}
	return "", "", false
}

// CheckRunsAsNonRoot enforces: every container runs as a non-zero UID with runAsNonRoot enforced.
func CheckRunsAsNonRoot(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	ps := podSecurity(pod)
	for _, c := range containers(pod) {
		sc := securityContext(c)
		nonRoot, uid := ps.RunAsNonRoot, ps.RunAsUser
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if nonRoot == nil || !*nonRoot || uid == nil || *uid == 0 {
			return ReasonRunsAsRoot, fmt.Sprintf("container %q may run as root (runAsNonRoot and a non-zero runAsUser are required)", c.Name), true
		}
	}
	return "", "", false
}

// CheckRelaxationConfinedToRunner enforces: the pod-wide context relaxes nothing
// (RuntimeDefault or Localhost seccomp, no Unconfined AppArmor, no SELinux options), and every
// container but the runner is fully confined: all capabilities dropped, no privilege
// escalation, no Unconfined seccomp or AppArmor, no SELinux options, no AppArmor annotation
// relaxing it.
func CheckRelaxationConfinedToRunner(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	ps := podSecurity(pod)
	if !confinedSeccomp(typeOf(ps.SeccompProfile)) {
		return ReasonRelaxedOutsideRunner, "the pod-level seccomp profile must be RuntimeDefault or Localhost", true
	}
	if p := ps.AppArmorProfile; p != nil && p.Type == corev1.AppArmorProfileTypeUnconfined {
		return ReasonRelaxedOutsideRunner, "the pod-level AppArmor profile must not be Unconfined", true
	}
	if ps.SELinuxOptions != nil {
		return ReasonRelaxedOutsideRunner, "SELinux options must be set on the runner container only", true
	}
	for key, value := range pod.Annotations {
		name, ok := strings.CutPrefix(key, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix)
		if ok && name != RunnerContainerName && value == corev1.DeprecatedAppArmorBetaProfileNameUnconfined {
			return ReasonRelaxedOutsideRunner, fmt.Sprintf("annotation %s makes container %q AppArmor-unconfined", key, name), true
		}
	}
	for _, c := range containers(pod) {
		if isRunner(pod, c) {
			continue
		}
		if msg := relaxation(pod, c); msg != "" {
			return ReasonRelaxedOutsideRunner, fmt.Sprintf("container %q: %s", c.Name, msg), true
		}
	}
	return "", "", false
}

// relaxation says how container c is less than fully confined, or "".
func relaxation(pod *corev1.Pod, c *corev1.Container) string {
	sc := securityContext(c)
	switch {
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		return "capabilities must drop ALL"
	case len(sc.Capabilities.Add) > 0:
		return fmt.Sprintf("adds capabilities %v", sc.Capabilities.Add)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		return "allowPrivilegeEscalation must be false"
	case !confinedSeccomp(effectiveSeccomp(pod, c)):
		return "seccomp must be RuntimeDefault or Localhost"
	case effectiveAppArmor(pod, c) == corev1.AppArmorProfileTypeUnconfined:
		return "AppArmor must not be Unconfined"
	case sc.SELinuxOptions != nil:
		return "sets SELinux options"
	}
	return ""
}

// CheckRunnerCapabilities enforces: the runner drops every capability and adds back exactly
// the ones rootless podman needs (SETUID, SETGID) in Podman mode, and none in None mode.
func CheckRunnerCapabilities(pool *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	c := runner(pod)
	if c == nil {
		return ReasonCapabilities, "pod has no runner container", true
	}
	caps := securityContext(c).Capabilities
	if caps == nil || !slices.Contains(caps.Drop, "ALL") {
		return ReasonCapabilities, "the runner must drop ALL capabilities", true
	}
	var want []corev1.Capability
	if podmanEnabled(pool) {
		want = PodmanCapabilities()
	}
	got := slices.Clone(caps.Add)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return ReasonCapabilities, fmt.Sprintf("the runner adds capabilities %v, want exactly %v", got, want), true
	}
	return "", "", false
}

// CheckRunnerProfiles enforces: in Podman mode the runner's seccomp and AppArmor profiles are no
// looser than the pool asks for (or its documented default): Unconfined only when that is
// the choice, and a Localhost profile only the one named. Stricter is always fine.
func CheckRunnerProfiles(pool *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	c := runner(pod)
	if c == nil || !podmanEnabled(pool) {
		return "", "", false
	}
	want, got := podmanSeccomp(pool), securityContext(c).SeccompProfile
	if got == nil {
		got = podSecurity(pod).SeccompProfile
	}
	if !profileWithin(typeOf(got), nameOf(got), want.Type, nameOf(want), corev1.SeccompProfileTypeUnconfined) {
		return ReasonProfileLooserThanAsk, fmt.Sprintf("the runner's seccomp profile %s %s is looser than the pool's %s %s",
			typeOf(got), nameOf(got), want.Type, nameOf(want)), true
	}
	wantAA := podmanAppArmor(pool)
	gotAA := securityContext(c).AppArmorProfile
	if gotAA == nil {
		gotAA = podSecurity(pod).AppArmorProfile
	}
	if !profileWithin(typeOfAA(gotAA), nameOfAA(gotAA), typeOfAA(wantAA), nameOfAA(wantAA), corev1.AppArmorProfileTypeUnconfined) {
		return ReasonProfileLooserThanAsk, fmt.Sprintf("the runner's AppArmor profile %s %s is looser than the pool's %s %s",
			typeOfAA(gotAA), nameOfAA(gotAA), typeOfAA(wantAA), nameOfAA(wantAA)), true
	}
	return "", "", false
}

// CheckNoneModeRelaxesNothing enforces: in None mode the runner is as confined as the init
// container: no privilege escalation, read-only root filesystem, RuntimeDefault or
// Localhost seccomp, no Unconfined AppArmor, no SELinux options.
func CheckNoneModeRelaxesNothing(pool *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	c := runner(pod)
	if c == nil || podmanEnabled(pool) {
		return "", "", false
	}
	if msg := relaxation(pod, c); msg != "" {
		return ReasonNoneModeRelaxed, "runner: " + msg, true
	}
	if ro := securityContext(c).ReadOnlyRootFilesystem; ro == nil || !*ro {
		return ReasonNoneModeRelaxed, "runner: the root filesystem must be read-only", true
	}
	return "", "", false
}

// confinedSeccomp reports whether a seccomp profile type filters syscalls.
func confinedSeccomp[T ~string](t T) bool {
	return string(t) == string(corev1.SeccompProfileTypeRuntimeDefault) || string(t) == string(corev1.SeccompProfileTypeLocalhost)
}

// profileWithin reports whether profile (typ, name) is no looser than (wantTyp, wantName):
// anything is within an unconfined want; RuntimeDefault (or unset, for AppArmor where the
// runtime default then applies) is within any want; Localhost must name the same profile.
func profileWithin[T ~string](typ T, name string, wantTyp T, wantName string, unconfined T) bool {
	switch {
	case wantTyp == unconfined:
		return true
	case typ == unconfined:
		return false
	case string(typ) == string(corev1.SeccompProfileTypeRuntimeDefault):
		return true
	case string(typ) == string(corev1.SeccompProfileTypeLocalhost):
		return string(wantTyp) == string(corev1.SeccompProfileTypeLocalhost) && name == wantName
	}
	return false
}

// typeOf is a seccomp profile's type; unset is "".
func typeOf(p *corev1.SeccompProfile) corev1.SeccompProfileType {
	if p == nil {
		return ""
	}
	return p.Type
}

// nameOf is a seccomp profile's Localhost name, or "".
func nameOf(p *corev1.SeccompProfile) string {
	if p == nil || p.LocalhostProfile == nil {
		return ""
	}
	return *p.LocalhostProfile
}

// typeOfAA is an AppArmor profile's type; unset means the runtime default.
func typeOfAA(p *corev1.AppArmorProfile) corev1.AppArmorProfileType {
	if p == nil {
		return corev1.AppArmorProfileTypeRuntimeDefault
	}
	return p.Type
}

// nameOfAA is an AppArmor profile's Localhost name, or "".
func nameOfAA(p *corev1.AppArmorProfile) string {
	if p == nil || p.LocalhostProfile == nil {
		return ""
	}
	return *p.LocalhostProfile
}
