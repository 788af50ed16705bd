package runner

import (
	corev1 "k8s.io/api/core/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// Check is one hardening rule for a runner pod of pool: it returns violated true, with a
// reason (one of the Reason constants) and a message saying what is wrong, when pod breaks
// the rule. Checks are pure and run over every pod the builder makes (in tests) and may be
// run over live pods to detect drift.
type Check func(pool *corralv1.RunnerPool, pod *corev1.Pod) (reason, message string, violated bool)

// Violation is a broken hardening rule.
type Violation struct {
	// Reason is one of the Reason constants.
	Reason string
	// Message says what is wrong, naming the container or field.
	Message string
}

// Reasons of hardening violations.
const (
	ReasonPrivileged           = "Privileged"
	ReasonHostNamespace        = "HostNamespace"
	ReasonHostPort             = "HostPort"
	ReasonHostPath             = "HostPath"
	ReasonServiceAccountToken  = "ServiceAccountToken"
	ReasonServiceLinks         = "ServiceLinks"
	ReasonRestartPolicy        = "RestartPolicy"
	ReasonLimitsMissing        = "LimitsMissing"
	ReasonRunsAsRoot           = "RunsAsRoot"
	ReasonJITConfigExposed     = "JITConfigExposed"
	ReasonRelaxedOutsideRunner = "RelaxedOutsideRunner"
	ReasonCapabilities         = "Capabilities"
	ReasonProfileLooserThanAsk = "ProfileLooserThanAsked"
	ReasonNoneModeRelaxed      = "NoneModeRelaxed"
	ReasonKernelSettings       = "KernelSettings"
	ReasonUserNamespace        = "UserNamespace"
	ReasonNotControlledByPool  = "NotControlledByPool"
	ReasonSELinux              = "SELinux"
	ReasonTunDevice            = "TunDevice"
)

// Checks returns the hardening chain, in order, as a fresh slice.
func Checks() []Check {
	return []Check{
		CheckNotPrivileged,
		CheckNoHostNamespaces,
		CheckNoHostPorts,
		CheckHostPaths,
		CheckTunResource,
		CheckNoServiceAccountToken,
		CheckNoServiceLinks,
		CheckRestartNever,
		CheckLimitsSet,
		CheckRunsAsNonRoot,
		CheckJITConfigOnlyFromSecret,
		CheckRelaxationConfinedToRunner,
		CheckRunnerCapabilities,
		CheckRunnerProfiles,
		CheckNoneModeRelaxesNothing,
		CheckKernelSettings,
		CheckSELinux,
		CheckUserNamespace,
		CheckControlledByPool,
	}
}

// Violations runs the whole chain over pod and returns the rules it breaks, in chain order.
func Violations(pool *corralv1.RunnerPool, pod *corev1.Pod) []Violation {
	var out []Violation
	for _, check := range Checks() {
		if reason, msg, bad := check(pool, pod); bad {
			out = append(out, Violation{Reason: reason, Message: msg})
		}
	}
	return out
}

// containers lists every container of the pod: init, regular and ephemeral.
func containers(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	for i := range pod.Spec.EphemeralContainers {
		out = append(out, (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	return out
}

// runner returns the pod's runner container, or nil.
func runner(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == RunnerContainerName {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// isRunner reports whether c is the pod's runner container (not an init or ephemeral
// container that happens to share its name).
func isRunner(pod *corev1.Pod, c *corev1.Container) bool {
	return c == runner(pod)
}

// securityContext returns c's security context, or an empty one.
func securityContext(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		return &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

// podSecurity returns the pod's security context, or an empty one.
func podSecurity(pod *corev1.Pod) *corev1.PodSecurityContext {
	if pod.Spec.SecurityContext == nil {
		return &corev1.PodSecurityContext{}
	}
	return pod.Spec.SecurityContext
}

// effectiveSeccomp is the seccomp profile type c runs under (container, then pod); ""
// means none set (the runtime's choice, Unconfined on many clusters).
func effectiveSeccomp(pod *corev1.Pod, c *corev1.Container) corev1.SeccompProfileType {
	if p := securityContext(c).SeccompProfile; p != nil {
		return p.Type
	}
	if p := podSecurity(pod).SeccompProfile; p != nil {
		return p.Type
	}
	return ""
}

// effectiveAppArmor is the AppArmor profile type c runs under (container, then pod); ""
// means none set (the runtime default where AppArmor is enabled).
func effectiveAppArmor(pod *corev1.Pod, c *corev1.Container) corev1.AppArmorProfileType {
	if p := securityContext(c).AppArmorProfile; p != nil {
		return p.Type
	}
	if p := podSecurity(pod).AppArmorProfile; p != nil {
		return p.Type
	}
	return ""
}
