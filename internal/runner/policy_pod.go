package runner

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// CheckNoHostNamespaces enforces: the pod shares no namespace with the node.
func CheckNoHostNamespaces(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	s := pod.Spec
	if s.HostNetwork || s.HostPID || s.HostIPC {
		return ReasonHostNamespace, fmt.Sprintf("pod shares host namespaces (network %t, pid %t, ipc %t)",
			s.HostNetwork, s.HostPID, s.HostIPC), true
	}
	return "", "", false
}

// CheckHostPaths enforces: the only hostPath is /dev/net/tun as a CharDevice, only for Podman
// with Isolated networking and tunDevice HostPath, and mounted only into the runner container.
func CheckHostPaths(pool *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	for _, v := range pod.Spec.Volumes {
		hp := v.HostPath
		if hp == nil {
			continue
		}
		if hp.Path != TunPath || hp.Type == nil || *hp.Type != corev1.HostPathCharDev {
			return ReasonHostPath, fmt.Sprintf("volume %q mounts host path %q: only %s as CharDevice is allowed", v.Name, hp.Path, TunPath), true
		}
		if TunDeviceOf(pool) != corralv1.TunHostPath {
			return ReasonHostPath, fmt.Sprintf("volume %q mounts %s, which only Podman with Isolated networking and tunDevice HostPath mounts", v.Name, TunPath), true
		}
		for _, c := range containers(pod) {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name && !isRunner(pod, c) {
					return ReasonHostPath, fmt.Sprintf("container %q mounts %s: only the runner may", c.Name, TunPath), true
				}
			}
		}
	}
	return "", "", false
}

// CheckTunResource enforces: only the runner requests TunResource, exactly one, and only with
// Podman, Isolated networking and tunDevice DevicePlugin.
func CheckTunResource(pool *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	for _, c := range containers(pod) {
		limit, inLimits := c.Resources.Limits[TunResource]
		_, inRequests := c.Resources.Requests[TunResource]
		if !inLimits && !inRequests {
			continue
		}
		switch {
		case !isRunner(pod, c):
			return ReasonTunDevice, fmt.Sprintf("container %q requests %s: only the runner may", c.Name, TunResource), true
		case TunDeviceOf(pool) != corralv1.TunDevicePlugin:
			return ReasonTunDevice, fmt.Sprintf("container %q requests %s, which only Podman with Isolated networking and tunDevice DevicePlugin uses", c.Name, TunResource), true
		case !inLimits || limit.Cmp(resource.MustParse("1")) != 0:
			return ReasonTunDevice, fmt.Sprintf("container %q must request exactly one %s", c.Name, TunResource), true
		}
	}
	return "", "", false
}

// CheckNoServiceAccountToken enforces: no Kubernetes credentials in the pod.
func CheckNoServiceAccountToken(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
		return ReasonServiceAccountToken, "automountServiceAccountToken must be false", true
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				return ReasonServiceAccountToken, fmt.Sprintf("volume %q projects a service account token", v.Name), true
			}
		}
	}
	return "", "", false
}

// CheckNoServiceLinks enforces: no environment variables listing the namespace's services.
func CheckNoServiceLinks(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	if e := pod.Spec.EnableServiceLinks; e == nil || *e {
		return ReasonServiceLinks, "enableServiceLinks must be false", true
	}
	return "", "", false
}

// CheckRestartNever enforces: a runner runs one job and is never restarted in place.
func CheckRestartNever(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return ReasonRestartPolicy, fmt.Sprintf("restartPolicy is %q, must be Never", pod.Spec.RestartPolicy), true
	}
	return "", "", false
}

// CheckJITConfigOnlyFromSecret enforces: the JIT configuration reaches only the runner container,
// only as ACTIONS_RUNNER_INPUT_JITCONFIG from the Secret's key, is copied into no other
// variable, and no Secret is mounted or imported wholesale.
func CheckJITConfigOnlyFromSecret(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	found := 0
	for _, c := range containers(pod) {
		if len(c.EnvFrom) > 0 {
			return ReasonJITConfigExposed, fmt.Sprintf("container %q imports variables with envFrom", c.Name), true
		}
		for _, e := range c.Env {
			if expandsJITConfig(e) {
				return ReasonJITConfigExposed, fmt.Sprintf("container %q copies %s into %s", c.Name, EnvJITConfig, e.Name), true
			}
			if e.Name != EnvJITConfig {
				continue
			}
			found++
			if !isRunner(pod, c) {
				return ReasonJITConfigExposed, fmt.Sprintf("container %q gets %s: only the runner may", c.Name, EnvJITConfig), true
			}
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Key != JITConfigKey {
				return ReasonJITConfigExposed, fmt.Sprintf("%s must come from the JIT Secret's key %q", EnvJITConfig, JITConfigKey), true
			}
		}
	}
	if found != 1 {
		return ReasonJITConfigExposed, fmt.Sprintf("%s is set %d times, want exactly once on the runner", EnvJITConfig, found), true
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			return ReasonJITConfigExposed, fmt.Sprintf("volume %q mounts a Secret", v.Name), true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					return ReasonJITConfigExposed, fmt.Sprintf("volume %q projects a Secret", v.Name), true
				}
			}
		}
	}
	return "", "", false
}

// CheckKernelSettings enforces: no unsafe sysctls and no unmasked /proc.
func CheckKernelSettings(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	if n := len(podSecurity(pod).Sysctls); n > 0 {
		return ReasonKernelSettings, fmt.Sprintf("pod sets %d sysctls", n), true
	}
	for _, c := range containers(pod) {
		if pm := securityContext(c).ProcMount; pm != nil && *pm != corev1.DefaultProcMount {
			return ReasonKernelSettings, fmt.Sprintf("container %q uses procMount %s", c.Name, *pm), true
		}
	}
	return "", "", false
}

// confinedSELinuxType reports whether an SELinux type keeps a container confined: what Pod
// Security baseline allows. spc_t ("super privileged container") and unconfined types do not.
func confinedSELinuxType(t string) bool {
	switch t {
	case "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t":
		return true
	}
	return false
}

// CheckSELinux enforces: no container runs under an SELinux type that escapes container
// confinement, nor sets an SELinux user, role or level, whatever a pool or its class allows.
func CheckSELinux(_ *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	check := func(where string, o *corev1.SELinuxOptions) (string, string, bool) {
		switch {
		case o == nil:
			return "", "", false
		case o.User != "" || o.Role != "" || o.Level != "":
			return ReasonSELinux, where + " sets an SELinux user, role or level", true
		case !confinedSELinuxType(o.Type):
			return ReasonSELinux, fmt.Sprintf("%s runs under SELinux type %q, which is not a confined container type", where, o.Type), true
		}
		return "", "", false
	}
	if r, m, bad := check("the pod", podSecurity(pod).SELinuxOptions); bad {
		return r, m, bad
	}
	for _, c := range containers(pod) {
		if r, m, bad := check(fmt.Sprintf("container %q", c.Name), securityContext(c).SELinuxOptions); bad {
			return r, m, bad
		}
	}
	return "", "", false
}

// CheckUserNamespace enforces: a pool asking for a user namespace gets hostUsers: false.
func CheckUserNamespace(pool *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	if !pool.Spec.Sandbox.UserNamespace {
		return "", "", false
	}
	if h := pod.Spec.HostUsers; h == nil || *h {
		return ReasonUserNamespace, "sandbox.userNamespace is set but the pod does not set hostUsers: false", true
	}
	return "", "", false
}

// CheckControlledByPool enforces: the pod's controller is its pool, so only the pool counts it
// and garbage collection removes it with the pool.
func CheckControlledByPool(pool *corralv1.RunnerPool, pod *corev1.Pod) (string, string, bool) {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			if ref.Kind == "RunnerPool" && ref.UID == pool.UID && strings.HasPrefix(ref.APIVersion, corralv1.GroupVersion.Group+"/") {
				return "", "", false
			}
			return ReasonNotControlledByPool, fmt.Sprintf("pod is controlled by %s %q, not pool %q", ref.Kind, ref.Name, pool.Name), true
		}
	}
	return ReasonNotControlledByPool, fmt.Sprintf("pod has no controller, want pool %q", pool.Name), true
}
