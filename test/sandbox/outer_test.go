package sandbox

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

// testNode maps every volume the builder uses to a fake host path.
func testNode() Node {
	return Node{
		Image:                 "localhost/runner:test",
		SeccompRoot:           "/seccomp",
		RuntimeDefaultProfile: "/profiles/default.json",
		Volumes: map[string]string{
			runner.VolumeHome: "/v/home", runner.VolumeTmp: "/v/tmp", runner.VolumeRun: "/v/run", runner.VolumeTun: "/v/tun",
		},
		Devices: map[corev1.ResourceName]Device{runner.TunResource: {HostPath: "/v/tun", ContainerPath: runner.TunPath}},
		Env:     map[string]string{"B": "2", "A": "1"},
	}
}

// TestRunArgsFromBuiltPod checks the translation of the pods the builder makes.
func TestRunArgsFromBuiltPod(t *testing.T) {
	tests := []struct {
		name      string
		pool      *corralv1.RunnerPool
		init      bool
		want      []string
		forbidden []string
	}{{
		name: "host runner",
		pool: gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost)),
		want: []string{
			"--user=1000:1000", "--cap-drop=all", "--cap-add=SETGID,SETUID",
			"--security-opt=seccomp=/seccomp/corral/podman.json",
			"--volume=/v/home:/home/runner:rw", "--volume=/v/tmp:/tmp:rw", "--volume=/v/run:/var/run:rw",
			"--env=HOME=/home/runner", "--env=XDG_RUNTIME_DIR=/var/run/user/1000", "--workdir=/home/runner",
		},
		forbidden: []string{"--security-opt=no-new-privileges", "--read-only", "--volume=/v/tun:/dev/net/tun:rw"},
	}, {
		name:      "isolated runner (the tun device plugin)",
		pool:      gen.RunnerPool("p"),
		want:      []string{"--security-opt=seccomp=/seccomp/corral/podman.json", "--device=/v/tun:/dev/net/tun:rw", "--cap-add=SETGID,SETUID"},
		forbidden: []string{"--security-opt=no-new-privileges", "--volume=/v/tun:/dev/net/tun:rw"},
	}, {
		name:      "isolated runner with the tun hostPath",
		pool:      gen.RunnerPool("p", gen.WithTunDevice(corralv1.TunHostPath)),
		want:      []string{"--security-opt=seccomp=unconfined", "--volume=/v/tun:/dev/net/tun:rw", "--cap-add=SETGID,SETUID"},
		forbidden: []string{"--security-opt=no-new-privileges", "--device=/v/tun:/dev/net/tun:rw"},
	}, {
		name: "init container",
		pool: gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost)),
		init: true,
		want: []string{
			"--user=1000:1000", "--cap-drop=all", "--security-opt=seccomp=/profiles/default.json",
			"--security-opt=no-new-privileges", "--read-only", "--read-only-tmpfs=false",
			"--volume=/v/home:/corral/home:rw", "--volume=/v/run:/corral/run:rw",
		},
		forbidden: []string{"--cap-add=SETGID,SETUID", "--volume=/v/home:/home/runner:rw"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := runner.BuildPod(tc.pool, "r", "jit")
			c := &pod.Spec.Containers[0]
			if tc.init {
				c = &pod.Spec.InitContainers[0]
			}
			args, err := RunArgs(pod, c, testNode())
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("missing %q in %q", w, args)
				}
			}
			for _, f := range tc.forbidden {
				if slices.Contains(args, f) {
					t.Errorf("unexpected %q in %q", f, args)
				}
			}
			for _, a := range args {
				if strings.Contains(a, runner.EnvJITConfig) {
					t.Errorf("the JIT config variable reached the harness: %q", a)
				}
			}
			// The image, then setpriv's flags, then the container's own command.
			img := slices.Index(args, "localhost/runner:test")
			if img < 0 || !slices.Equal(args[img+1:img+4], []string{"--inh-caps=-all", "--ambient-caps=-all", "--"}) {
				t.Fatalf("want the image followed by setpriv's flags, got %q", args)
			}
			if got := args[img+4:]; !slices.Equal(got, append(slices.Clone(c.Command), c.Args...)) {
				t.Errorf("command = %q, want the container's %q", got, c.Command)
			}
			if a, b := slices.Index(args, "--env=A=1"), slices.Index(args, "--env=B=2"); a < 0 || b < a {
				t.Errorf("node env not added in sorted order: %q", args)
			}
		})
	}
}

// TestRunArgsRejects checks that what the harness cannot reproduce is an error, not a
// silently different container.
func TestRunArgsRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(pod *corev1.Pod, node *Node)
		want   string
	}{
		{"user namespace", func(p *corev1.Pod, _ *Node) { p.Spec.HostUsers = ptr.To(false) }, "hostUsers"},
		{"host network", func(p *corev1.Pod, _ *Node) { p.Spec.HostNetwork = true }, "host namespaces"},
		{"privileged", func(p *corev1.Pod, _ *Node) { p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true) }, "privileged"},
		{"root", func(p *corev1.Pod, _ *Node) { p.Spec.SecurityContext.RunAsUser = ptr.To(int64(0)) }, "runs as root"},
		{"no user", func(p *corev1.Pod, _ *Node) { p.Spec.SecurityContext.RunAsUser = nil }, "no runAsUser"},
		{"configMap volume", func(p *corev1.Pod, _ *Node) {
			p.Spec.Volumes[0] = corev1.Volume{Name: p.Spec.Volumes[0].Name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}
		}, "only emptyDir and hostPath"},
		{"unmapped volume", func(_ *corev1.Pod, n *Node) { delete(n.Volumes, runner.VolumeHome) }, "no host path"},
		{"nameless Localhost profile", func(p *corev1.Pod, _ *Node) {
			p.Spec.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}
		}, "without a name"},
		{"no command", func(p *corev1.Pod, _ *Node) { p.Spec.Containers[0].Command = nil }, "no command"},
		{"a device no plugin serves", func(_ *corev1.Pod, n *Node) { n.Devices = nil }, "no device plugin of the harness serves"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := runner.BuildPod(gen.RunnerPool("p"), "r", "jit")
			node := testNode()
			tc.change(pod, &node)
			_, err := RunArgs(pod, &pod.Spec.Containers[0], node)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestCapabilities checks the bounding set arithmetic.
func TestCapabilities(t *testing.T) {
	tests := []struct {
		name string
		caps *corev1.Capabilities
		want []string
	}{
		{"runtime default", nil, RuntimeDefaultCapabilities()},
		{"drop all, add two", &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"SETUID", "CAP_SETGID"}}, []string{"SETGID", "SETUID"}},
		{"drop all", &corev1.Capabilities{Drop: []corev1.Capability{"all"}}, nil},
		{"drop one, add one", &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}, Add: []corev1.Capability{"SYS_PTRACE"}},
			[]string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT", "SYS_PTRACE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{}
			if tc.caps != nil {
				c.SecurityContext = &corev1.SecurityContext{Capabilities: tc.caps}
			}
			if got := Capabilities(c); !slices.Equal(got, tc.want) {
				t.Errorf("Capabilities = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSeccompFlag checks which profile applies: the container's over the pod's, and
// Unconfined when neither sets one (the kubelet's default).
func TestSeccompFlag(t *testing.T) {
	node := testNode()
	localhost := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("x/y.json")}
	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	tests := []struct {
		name           string
		pod, container *corev1.SeccompProfile
		want           string
	}{
		{"none", nil, nil, "seccomp=unconfined"},
		{"pod only", runtimeDefault, nil, "seccomp=/profiles/default.json"},
		{"container wins", runtimeDefault, localhost, "seccomp=/seccomp/x/y.json"},
		{"container unconfined", localhost, &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}, "seccomp=unconfined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{SeccompProfile: tc.pod}}}
			c := &corev1.Container{SecurityContext: &corev1.SecurityContext{SeccompProfile: tc.container}}
			got, err := SeccompFlag(pod, c, node)
			if err != nil || got != tc.want {
				t.Errorf("SeccompFlag = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
