//go:build sandbox

package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

// sandboxCase is one runner pod to run: built from pool, then changed by drift (a builder
// regression to detect), with the Localhost profile installed without omit.
type sandboxCase struct {
	name  string
	pool  *corralv1.RunnerPool
	drift func(t *testing.T, pod *corev1.Pod)
	omit  []string
	// wantStep is the step that must fail ("" = every step passes); wantMsg must appear in
	// the output then.
	wantStep string
	wantMsg  string
}

// TestNestedPodman runs each podman-mode variant of the built runner pod and the negative
// cases. CORRAL_SANDBOX_SYSCALLS=all also re-verifies every added syscall on its own.
func TestNestedPodman(t *testing.T) {
	h := newHarness(t)
	host := gen.WithNetworking(corralv1.NestedNetworkingHost)
	hostPath := gen.WithTunDevice(corralv1.TunHostPath)
	cases := []sandboxCase{
		{name: "isolated", pool: gen.RunnerPool("iso")},
		{name: "isolated-hostpath", pool: gen.RunnerPool("iso", hostPath)},
		{name: "isolated-hostpath-localhost-seccomp", pool: gen.RunnerPool("iso", hostPath, gen.WithSeccomp(corralv1.SeccompLocalhost, corralv1.DefaultSeccompLocalhostProfile))},
		{name: "host", pool: gen.RunnerPool("host", host)},
		{
			name: "host-runtime-default-seccomp", pool: gen.RunnerPool("host", host, gen.WithSeccomp(corralv1.SeccompRuntimeDefault, "")),
			wantStep: StepSocket, wantMsg: "cannot clone: Operation not permitted",
		},
		{
			// With netns = "host" podman binds the pod's /sys anyway; a new network
			// namespace needs a sysfs of its own.
			name: "isolated-containers-conf-without-sys", pool: gen.RunnerPool("iso"), drift: dropConfVolume("/sys:/sys"),
			wantStep: StepRun, wantMsg: `error mounting "sysfs"`,
		},
		{
			name: "host-containers-conf-without-proc", pool: gen.RunnerPool("host", host), drift: dropConfVolume("/proc:/proc"),
			wantStep: StepRun, wantMsg: `error mounting "proc"`,
		},
		{
			name: "isolated-without-tun", pool: gen.RunnerPool("iso"), drift: dropTun,
			wantStep: StepRun, wantMsg: "/dev/net/tun",
		},
		{
			name: "isolated-hostpath-without-tun", pool: gen.RunnerPool("iso", hostPath), drift: dropTun,
			wantStep: StepRun, wantMsg: "/dev/net/tun",
		},
		{
			name: "host-no-privilege-escalation", pool: gen.RunnerPool("host", host), drift: noPrivilegeEscalation,
			wantStep: StepSocket, wantMsg: "newuidmap",
		},
	}
	cases = append(cases, syscallCases(os.Getenv("CORRAL_SANDBOX_SYSCALLS") == "all")...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { h.run(t, tc) })
	}
}

// syscallCases leave one added syscall out of the Localhost profile each: all of them with
// all, otherwise three whose failures differ (the OCI runtime, joining the rootless user
// namespace, buildah).
func syscallCases(all bool) []sandboxCase {
	want := map[string][2]string{
		"chroot":      {StepBuild, "chrooting to directory"},
		"clone":       {StepSocket, "cannot clone: Operation not permitted"},
		"keyctl":      {StepRun, "unable to join session keyring"},
		"mount":       {StepSocket, "flags: 0x1000: operation not permitted"},
		"pivot_root":  {StepRun, "pivot_root .: operation not permitted"},
		"sethostname": {StepRun, "sethostname: operation not permitted"},
		"setns":       {StepLoad, "cannot set user namespace"},
		"umount2":     {StepLoad, "unmounting old root after pivot: operation not permitted"},
		"unshare":     {StepLoad, "creating mount namespace before pivot: operation not permitted"},
	}
	names := []string{"chroot", "pivot_root", "setns"}
	if all {
		names = nil
		for n := range want {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	var cases []sandboxCase
	for _, n := range names {
		cases = append(cases, sandboxCase{
			name: "host-profile-without-" + n, pool: gen.RunnerPool("host", gen.WithNetworking(corralv1.NestedNetworkingHost)),
			omit: []string{n}, wantStep: want[n][0], wantMsg: want[n][1],
		})
	}
	return cases
}

// run builds the case's pod, runs its init container and then its runner container with
// the job script, and checks the outcome.
func (h *harness) run(t *testing.T, tc sandboxCase) {
	start := time.Now()
	isolated := tc.pool.Spec.Sandbox.Networking != corralv1.NestedNetworkingHost
	if reason := missingForIsolated(); isolated && reason != "" {
		t.Skip("Isolated networking skipped: " + reason)
	}
	pod := runner.BuildPod(tc.pool, "sandbox-"+tc.name, "jit")
	if tc.drift != nil {
		tc.drift(t, pod)
	}
	workRoot := filepath.Join(h.root, ".cache", "sandbox", "work")
	if err := os.MkdirAll(workRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(workRoot, tc.name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	seccompRoot := filepath.Join(dir, "seccomp")
	installed := filepath.Join(seccompRoot, corralv1.DefaultSeccompLocalhostProfile)
	if err := os.MkdirAll(filepath.Dir(installed), 0o755); err != nil {
		t.Fatal(err)
	}
	if len(tc.omit) > 0 {
		h.generate(t, installed, "-omit", strings.Join(tc.omit, ","))
	} else {
		installShipped(t, filepath.Join(h.root, "config", "seccomp", "podman.json"), installed)
	}
	job := Job{InnerImage: h.innerImage, InnerArchive: h.innerArchive, Isolated: isolated}
	node := Node{
		Image:                 h.runnerImage,
		SeccompRoot:           seccompRoot,
		RuntimeDefaultProfile: h.runtimeDefault,
		Volumes:               prepareVolumes(t, pod, dir),
		Devices:               pluginDevices(t, dir),
		ExtraFlags:            hostFlags(),
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		args, err := RunArgs(pod, c, node)
		if err != nil {
			t.Fatalf("translating init container: %v", err)
		}
		if out, err := podman(t, fmt.Sprintf("corral-sandbox-%s-%s", tc.name, c.Name), args); err != nil {
			t.Fatalf("init container %q failed: %v\n%s", c.Name, err, tail(out, 20))
		}
	}
	node.Env = map[string]string{"CORRAL_SANDBOX_SCRIPT": job.Script()}
	c := &pod.Spec.Containers[0]
	args, err := RunArgs(pod, c, node)
	if err != nil {
		t.Fatalf("translating runner container: %v", err)
	}
	out, runErr := podman(t, "corral-sandbox-"+tc.name, args)
	got := ParseOutput(out)
	t.Logf("%s: steps %v, failed %q, %s", tc.name, got.Steps, got.FailedStep, time.Since(start).Round(100*time.Millisecond))
	if tc.wantStep == "" {
		if !got.Passed || runErr != nil {
			t.Fatalf("nested podman failed in step %q (%v)\nhint: %s\nlast output:\n%s", got.FailedStep, runErr, Hint(got.FailedStep, out), tail(out, 25))
		}
		checkIdentity(t, out, Capabilities(c))
		return
	}
	if got.Passed {
		t.Fatalf("want step %q to fail, but every step passed; output:\n%s", tc.wantStep, tail(out, 25))
	}
	t.Logf("failed as expected; hint: %s", Hint(got.FailedStep, out))
	if got.FailedStep != tc.wantStep || !strings.Contains(out, tc.wantMsg) {
		t.Fatalf("want step %q to fail with %q; step %q failed (%v); last output:\n%s", tc.wantStep, tc.wantMsg, got.FailedStep, runErr, tail(out, 25))
	}
}

// installShipped copies the shipped profile to where the kubelet would find it.
func installShipped(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatalf("reading the shipped profile: %v", err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkIdentity checks the runner ran as UID 1000 with exactly the pod's bounding set.
func checkIdentity(t *testing.T, out string, caps []string) {
	t.Helper()
	if !strings.Contains(out, "uid=1000(runner) gid=1000(runner)") {
		t.Errorf("runner did not run as UID/GID 1000:\n%s", out)
	}
	want := strings.ToLower(strings.Join(caps, ","))
	if want == "" {
		want = "[none]"
	}
	if !strings.Contains(out, "Capability bounding set: "+want+"\n") {
		t.Errorf("runner's bounding set is not %q:\n%s", want, out)
	}
}

// hasVolume reports whether pod has a volume named name.
func hasVolume(pod *corev1.Pod, name string) bool {
	return slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
}

// dropConfVolume removes one bind (e.g. "/sys:/sys") from the volumes of the
// containers.conf the init container writes.
func dropConfVolume(bind string) func(t *testing.T, pod *corev1.Pod) {
	return func(t *testing.T, pod *corev1.Pod) {
		t.Helper()
		init := &pod.Spec.InitContainers[0]
		script := init.Command[len(init.Command)-1]
		const line = `volumes = ["/proc:/proc", "/sys:/sys"]`
		if !strings.Contains(script, line) {
			t.Fatalf("the init script no longer writes %s; update the drift case:\n%s", line, script)
		}
		kept := strings.Replace(strings.Replace(line, `"`+bind+`", `, "", 1), `, "`+bind+`"`, "", 1)
		init.Command[len(init.Command)-1] = strings.Replace(script, line, kept, 1)
	}
}

// dropTun takes /dev/net/tun from the runner: the hostPath volume and its mount, or the
// device plugin's resource.
func dropTun(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	r := &pod.Spec.Containers[0]
	_, requested := r.Resources.Limits[runner.TunResource]
	if !hasVolume(pod, runner.VolumeTun) && !requested {
		t.Fatalf("the pod has neither a %s volume nor a %s request to drop", runner.VolumeTun, runner.TunResource)
	}
	pod.Spec.Volumes = slices.DeleteFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == runner.VolumeTun })
	r.VolumeMounts = slices.DeleteFunc(r.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == runner.VolumeTun })
	delete(r.Resources.Limits, runner.TunResource)
	delete(r.Resources.Requests, runner.TunResource)
}

// noPrivilegeEscalation sets allowPrivilegeEscalation false on the runner.
func noPrivilegeEscalation(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	pod.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(false)
}
