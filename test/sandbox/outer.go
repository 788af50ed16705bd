package sandbox

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Node is how the harness stands in for the node that would run the pod.
type Node struct {
	// Image replaces the containers' images: the runner-like test image.
	Image string
	// SeccompRoot stands in for the kubelet's seccomp directory: a Localhost profile
	// "corral/podman.json" is SeccompRoot/corral/podman.json.
	SeccompRoot string
	// RuntimeDefaultProfile is the file of the runtime's default seccomp profile.
	RuntimeDefaultProfile string
	// Volumes maps each pod volume name to the host path bound in its place (a directory
	// for an emptyDir, a device node for a hostPath device).
	Volumes map[string]string
	// Devices maps an extended resource a device plugin serves to the device node it gives a
	// container that requests it: the host path of the node, and where the container sees it
	// (corral.run/tun gives /dev/net/tun at /dev/net/tun, read-write, as internal/tunplugin's
	// Allocate answers).
	Devices map[corev1.ResourceName]Device
	// Env adds variables to every container (e.g. the test's script).
	Env map[string]string
	// ExtraFlags are podman flags this host needs (runtime, cgroup manager, ulimits).
	ExtraFlags []string
}

// Device is a device node a device plugin allocates: HostPath on the node, ContainerPath in
// the container.
type Device struct {
	HostPath, ContainerPath string
}

// RuntimeDefaultCapabilities is the capability set containerd and CRI-O give a container
// before the pod's drops and adds.
func RuntimeDefaultCapabilities() []string {
	return []string{
		"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
		"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
	}
}

// Capabilities is the bounding set of container c: the runtime default, minus the drops
// ("ALL" drops everything), plus the adds; sorted, without the CAP_ prefix.
func Capabilities(c *corev1.Container) []string {
	caps := RuntimeDefaultCapabilities()
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		return caps
	}
	for _, d := range sc.Capabilities.Drop {
		name := capName(d)
		if name == "ALL" {
			caps = nil
			break
		}
		caps = slices.DeleteFunc(caps, func(s string) bool { return s == name })
	}
	for _, a := range sc.Capabilities.Add {
		if name := capName(a); !slices.Contains(caps, name) {
			caps = append(caps, name)
		}
	}
	slices.Sort(caps)
	return caps
}

// capName normalizes a capability name: upper case, without CAP_.
func capName(c corev1.Capability) string {
	return strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_")
}

// SeccompFlag is the --security-opt value for container c's seccomp profile: the
// container's profile, else the pod's, else none (the kubelet's default is Unconfined).
func SeccompFlag(pod *corev1.Pod, c *corev1.Container, node Node) (string, error) {
	var p *corev1.SeccompProfile
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		p = c.SecurityContext.SeccompProfile
	} else if pod.Spec.SecurityContext != nil {
		p = pod.Spec.SecurityContext.SeccompProfile
	}
	if p == nil {
		return "seccomp=unconfined", nil
	}
	switch p.Type {
	case corev1.SeccompProfileTypeUnconfined:
		return "seccomp=unconfined", nil
	case corev1.SeccompProfileTypeRuntimeDefault:
		return "seccomp=" + node.RuntimeDefaultProfile, nil
	case corev1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return "", fmt.Errorf("container %q: Localhost seccomp profile without a name", c.Name)
		}
		return "seccomp=" + filepath.Join(node.SeccompRoot, *p.LocalhostProfile), nil
	default:
		return "", fmt.Errorf("container %q: unknown seccomp profile type %q", c.Name, p.Type)
	}
}

// user is container c's --user value: the container's runAsUser/runAsGroup over the pod's.
func user(pod *corev1.Pod, c *corev1.Container) (string, error) {
	var uid, gid *int64
	if ps := pod.Spec.SecurityContext; ps != nil {
		uid, gid = ps.RunAsUser, ps.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	if uid == nil {
		return "", fmt.Errorf("container %q: no runAsUser (the image's user would decide)", c.Name)
	}
	if *uid == 0 {
		return "", fmt.Errorf("container %q runs as root", c.Name)
	}
	if gid == nil {
		return fmt.Sprint(*uid), nil
	}
	return fmt.Sprintf("%d:%d", *uid, *gid), nil
}

// RunArgs are the arguments of `podman run` that run container c of pod on node the way
// kubelet and containerd would: user and group, capability bounding set, seccomp profile,
// no_new_privs, read-only root, procMount, volumes, environment, working directory and
// command (run through setpriv, which the image must have). AppArmor and SELinux are not translated (this host has neither) and resources
// are left out (no cgroup delegation). Features the harness cannot reproduce are errors.
func RunArgs(pod *corev1.Pod, c *corev1.Container, node Node) ([]string, error) {
	if pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers {
		return nil, fmt.Errorf("pod %q: hostUsers false is not supported by the harness", pod.Name)
	}
	if pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.HostIPC {
		return nil, fmt.Errorf("pod %q uses host namespaces", pod.Name)
	}
	args := []string{"run", "--rm", "--network=none", "--security-opt=label=disable"}
	args = append(args, node.ExtraFlags...)
	u, err := user(pod, c)
	if err != nil {
		return nil, err
	}
	args = append(args, "--user="+u, "--cap-drop=all")
	if caps := Capabilities(c); len(caps) > 0 {
		args = append(args, "--cap-add="+strings.Join(caps, ","))
	}
	sec, err := SeccompFlag(pod, c, node)
	if err != nil {
		return nil, err
	}
	args = append(args, "--security-opt="+sec)
	if sc := c.SecurityContext; sc != nil {
		if sc.Privileged != nil && *sc.Privileged {
			return nil, fmt.Errorf("container %q is privileged", c.Name)
		}
		// Kubernetes sets no_new_privs exactly when allowPrivilegeEscalation is false.
		if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			args = append(args, "--security-opt=no-new-privileges")
		}
		if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
			args = append(args, "--read-only", "--read-only-tmpfs=false")
		}
		if sc.ProcMount != nil && *sc.ProcMount == corev1.UnmaskedProcMount {
			args = append(args, "--security-opt=unmask=ALL")
		}
	}
	mounts, err := volumeArgs(pod, c, node)
	if err != nil {
		return nil, err
	}
	args = append(args, mounts...)
	devices, err := deviceArgs(c, node)
	if err != nil {
		return nil, err
	}
	args = append(args, devices...)
	env, err := envArgs(c, node)
	if err != nil {
		return nil, err
	}
	args = append(args, env...)
	if c.WorkingDir != "" {
		args = append(args, "--workdir="+c.WorkingDir)
	}
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %q has no command (the image's entrypoint would decide)", c.Name)
	}
	// Podman puts the added capabilities of a non-root user in the ambient set, so they
	// would stay effective across exec; containerd and CRI-O do not. setpriv (util-linux)
	// clears the ambient and inheritable sets before the container's command runs, leaving
	// the bounding set as the pod asks.
	args = append(args, "--entrypoint=setpriv", node.Image, "--inh-caps=-all", "--ambient-caps=-all", "--")
	args = append(args, c.Command...)
	return append(args, c.Args...), nil
}

// deviceArgs give c the device node of each extended resource it asks for, as the kubelet
// does with the devices a device plugin allocates. A resource no plugin of the harness
// serves is an error: on a node the pod would not be scheduled.
func deviceArgs(c *corev1.Container, node Node) ([]string, error) {
	var names []corev1.ResourceName
	for name := range c.Resources.Limits {
		if strings.Contains(string(name), "/") && !strings.Contains(string(name), "kubernetes.io/") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var args []string
	for _, name := range names {
		d, ok := node.Devices[name]
		if !ok {
			return nil, fmt.Errorf("container %q requests %s, which no device plugin of the harness serves", c.Name, name)
		}
		args = append(args, fmt.Sprintf("--device=%s:%s:rw", d.HostPath, d.ContainerPath))
	}
	return args, nil
}

// volumeArgs bind each of c's volume mounts from the host path node gives its volume.
func volumeArgs(pod *corev1.Pod, c *corev1.Container, node Node) ([]string, error) {
	var args []string
	for _, m := range c.VolumeMounts {
		idx := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if idx < 0 {
			return nil, fmt.Errorf("container %q mounts undefined volume %q", c.Name, m.Name)
		}
		v := pod.Spec.Volumes[idx]
		if v.EmptyDir == nil && v.HostPath == nil {
			return nil, fmt.Errorf("volume %q: only emptyDir and hostPath volumes are supported by the harness", v.Name)
		}
		src, ok := node.Volumes[v.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q has no host path in the harness", v.Name)
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
		}
		opt := "rw"
		if m.ReadOnly {
			opt = "ro"
		}
		args = append(args, fmt.Sprintf("--volume=%s:%s:%s", src, m.MountPath, opt))
	}
	return args, nil
}

// envArgs are c's literal environment variables and node's. Variables from Secrets (the
// JIT configuration) are left out: the harness has no Secret and the job does not read them.
func envArgs(c *corev1.Container, node Node) ([]string, error) {
	var args []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			if e.ValueFrom.SecretKeyRef == nil {
				return nil, fmt.Errorf("container %q: env %s from a source the harness does not support", c.Name, e.Name)
			}
			continue
		}
		args = append(args, "--env="+e.Name+"="+e.Value)
	}
	keys := make([]string, 0, len(node.Env))
	for k := range node.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "--env="+k+"="+node.Env[k])
	}
	return args, nil
}
