package runnerclass

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// defaultSeccomp and defaultAppArmor are what a class allows when it lists no profile: the
// runtime's default and Corral's Localhost profile.
func defaultSeccomp() []string {
	return []string{"RuntimeDefault", "Localhost/" + corralv1.DefaultSeccompLocalhostProfile}
}

func defaultAppArmor() []string {
	return []string{"RuntimeDefault", "Localhost/" + corralv1.DefaultAppArmorLocalhostProfile}
}

// CheckPod returns the ways a runner pod built for a pool of class breaks it: what the pod
// finally runs under, the builder's defaults included (a Podman pool with Isolated
// networking defaults to seccomp Unconfined, which a class must allow by name).
func CheckPod(pod *corev1.Pod, class *corralv1.RunnerClass) []Violation {
	var out []Violation
	add := func(field, format string, args ...any) {
		out = append(out, Violation{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := class.Spec
	spec := pod.Spec
	for _, ctr := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		seccomp, apparmor, selinux := effectiveProfiles(&spec, &ctr)
		if allowed := orDefault(c.Sandbox.SeccompProfiles, defaultSeccomp()); !slices.Contains(allowed, seccomp) {
			add("spec.sandbox.seccompProfile", "container %s would run under seccomp %s, which the class does not allow (allowed: %s)", ctr.Name, seccomp, list(allowed))
		}
		if allowed := orDefault(c.Sandbox.AppArmorProfiles, defaultAppArmor()); !slices.Contains(allowed, apparmor) {
			add("spec.sandbox.appArmorProfile", "container %s would run under AppArmor %s, which the class does not allow (allowed: %s)", ctr.Name, apparmor, list(allowed))
		}
		if selinux != nil && (selinux.User != "" || selinux.Role != "" || selinux.Level != "" ||
			(selinux.Type != "" && !slices.Contains(c.Sandbox.SELinuxTypes, selinux.Type))) {
			add("spec.sandbox.seLinuxOptions", "container %s: SELinux type %q is not allowed (allowed types: %s; user, role and level never)", ctr.Name, selinux.Type, list(c.Sandbox.SELinuxTypes))
		}
		for name, max := range c.Limits.MaxResources {
			if limit, ok := ctr.Resources.Limits[name]; ok && limit.Cmp(max) > 0 {
				add("spec.template.resources", "container %s: %s limit %s exceeds the class's %s", ctr.Name, name, limit.String(), max.String())
			}
		}
	}
	if rc := spec.RuntimeClassName; rc != nil && !slices.Contains(c.Sandbox.RuntimeClassNames, *rc) {
		add("spec.sandbox.runtimeClassName", "%s is not allowed (allowed: %s)", *rc, list(c.Sandbox.RuntimeClassNames))
	}
	if c.Sandbox.UserNamespace == corralv1.UserNamespaceRequired && (spec.HostUsers == nil || *spec.HostUsers) {
		add("spec.sandbox.userNamespace", "the class requires runners in a user namespace: set it to true")
	}
	if spec.PriorityClassName != "" && !slices.Contains(c.Scheduling.PriorityClassNames, spec.PriorityClassName) {
		add("spec.template.priorityClassName", "%s is not allowed (allowed: %s)", spec.PriorityClassName, list(c.Scheduling.PriorityClassNames))
	}
	for i, t := range spec.Tolerations {
		if !tolerationAllowed(t, c.Scheduling.Tolerations) {
			add(fmt.Sprintf("spec.template.tolerations[%d]", i), "toleration %s is not one the class allows", describe(t))
		}
	}
	return out
}

// effectiveProfiles are the seccomp and AppArmor profiles (as a class lists them) and the
// SELinux options a container runs under: its own, else the pod's.
func effectiveProfiles(pod *corev1.PodSpec, ctr *corev1.Container) (seccomp, apparmor string, selinux *corev1.SELinuxOptions) {
	var sp *corev1.SeccompProfile
	var ap *corev1.AppArmorProfile
	if psc := pod.SecurityContext; psc != nil {
		sp, ap, selinux = psc.SeccompProfile, psc.AppArmorProfile, psc.SELinuxOptions
	}
	if csc := ctr.SecurityContext; csc != nil {
		if csc.SeccompProfile != nil {
			sp = csc.SeccompProfile
		}
		if csc.AppArmorProfile != nil {
			ap = csc.AppArmorProfile
		}
		if csc.SELinuxOptions != nil {
			selinux = csc.SELinuxOptions
		}
	}
	seccomp, apparmor = "Unconfined", "RuntimeDefault" // what a runtime does when nothing is set
	if sp != nil {
		seccomp = profileName(string(sp.Type), sp.LocalhostProfile)
	}
	if ap != nil {
		apparmor = profileName(string(ap.Type), ap.LocalhostProfile)
	}
	return seccomp, apparmor, selinux
}

func profileName(t string, localhost *string) string {
	if t == "Localhost" && localhost != nil {
		return "Localhost/" + *localhost
	}
	return t
}

func orDefault(list, def []string) []string {
	if len(list) == 0 {
		return def
	}
	return list
}

// tolerationAllowed reports whether t equals one of the allowed tolerations.
func tolerationAllowed(t corev1.Toleration, allowed []corev1.Toleration) bool {
	norm := func(t corev1.Toleration) corev1.Toleration {
		if t.Operator == "" {
			t.Operator = corev1.TolerationOpEqual
		}
		return t
	}
	nt := norm(t)
	for _, a := range allowed {
		na := norm(a)
		if na.MatchToleration(&nt) && equalSeconds(a.TolerationSeconds, t.TolerationSeconds) {
			return true
		}
	}
	return false
}

func equalSeconds(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func describe(t corev1.Toleration) string {
	return fmt.Sprintf("{key: %q, operator: %q, value: %q, effect: %q}", t.Key, t.Operator, t.Value, t.Effect)
}
