//go:build sandbox

package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/corral-run/corral/internal/runner"
)

// hostFlags are what root podman needs on this kind of host (cgroup v1 hybrid, no
// CAP_SYS_RESOURCE): runc instead of crun, cgroupfs, and ulimits within the hard limits.
func hostFlags() []string {
	return []string{"--runtime=runc", "--cgroup-manager=cgroupfs", "--ulimit=nofile=10000:20000", "--ulimit=nproc=4000:4000"}
}

// runTimeout bounds one container run.
const runTimeout = 5 * time.Minute

// harness holds what every case shares: the repository, the images, the runtime default
// profile.
type harness struct {
	root           string
	runnerImage    string
	innerImage     string
	innerArchive   string
	generator      string
	runtimeDefault string
}

// newHarness checks the machine and prepares the shared files, or skips the test saying
// which prerequisite is missing.
func newHarness(t *testing.T) *harness {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if reason := missingPrerequisite(root); reason != "" {
		t.Skip("sandbox test skipped: " + reason)
	}
	env, err := readEnvFile(filepath.Join(root, ".cache", "sandbox", "images.env"))
	if err != nil {
		t.Skipf("sandbox test skipped: test images not built (%v); run hack/sandbox/setup.sh", err)
	}
	h := &harness{
		root:         root,
		runnerImage:  env["CORRAL_SANDBOX_RUNNER_IMAGE"],
		innerImage:   env["CORRAL_SANDBOX_INNER_IMAGE"],
		innerArchive: env["CORRAL_SANDBOX_INNER_ARCHIVE"],
	}
	for _, img := range []string{h.runnerImage, h.innerImage} {
		if img == "" || exec.Command("podman", "image", "exists", img).Run() != nil {
			t.Skipf("sandbox test skipped: image %q missing; run hack/sandbox/setup.sh", img)
		}
	}
	dir := t.TempDir()
	h.generator = filepath.Join(dir, "seccompgen")
	build := exec.Command("go", "build", "-o", h.generator, "./hack/seccomp")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the seccomp generator: %v\n%s", err, out)
	}
	h.runtimeDefault = filepath.Join(dir, "runtime-default.json")
	h.generate(t, h.runtimeDefault, "-base")
	return h
}

// generate runs the seccomp generator with -o out and args.
func (h *harness) generate(t *testing.T, out string, args ...string) {
	t.Helper()
	cmd := exec.Command(h.generator, append([]string{"-o", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generating seccomp profile %v: %v\n%s", args, err, b)
	}
}

// repoRoot is the directory holding go.mod, above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository: no go.mod above the working directory")
		}
		dir = parent
	}
}

// missingPrerequisite names what this machine lacks to run the test, or "".
func missingPrerequisite(root string) string {
	if os.Geteuid() != 0 {
		return "needs root (root podman runs the runner pod's containers, as the kubelet would)"
	}
	for _, bin := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed; run hack/sandbox/setup.sh (apt-get install podman runc)"
		}
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(b)) == "0" {
		return "user namespaces are disabled (user.max_user_namespaces is 0)"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)"
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return "cannot stat the repository's filesystem: " + err.Error()
	}
	if st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return "the repository is on overlayfs: emptyDirs stand-ins under .cache/sandbox would not take nested overlay storage"
	}
	return ""
}

// missingForIsolated names what this machine lacks for Isolated networking, or "".
// netavark enables IP forwarding in the rootless network namespace only when it is off,
// and cannot (the pod's /proc/sys is read-only); a new network namespace inherits the
// node's IPv4 setting, which is on for every Kubernetes node.
func missingForIsolated() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		return "net.ipv4.ip_forward is not 1 on this host, as it is on Kubernetes nodes (hack/sandbox/setup.sh sets it)"
	}
	return ""
}

// readEnvFile reads KEY=VALUE lines.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, s.Err()
}

// prepareVolumes creates a host stand-in for each of pod's volumes under dir: a directory
// (mode 0777, as the kubelet makes it) for an emptyDir, on tmpfs for medium Memory; a
// device node with the node's device numbers for a hostPath CharDevice.
func prepareVolumes(t *testing.T, pod *corev1.Pod, dir string) map[string]string {
	t.Helper()
	vols := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		p := filepath.Join(dir, "volumes", v.Name)
		switch {
		case v.EmptyDir != nil:
			if err := os.MkdirAll(p, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o777); err != nil {
				t.Fatal(err)
			}
			if v.EmptyDir.Medium == corev1.StorageMediumMemory {
				opts := "mode=0777"
				if v.EmptyDir.SizeLimit != nil {
					opts += ",size=" + strconv.FormatInt(v.EmptyDir.SizeLimit.Value(), 10)
				}
				if err := unix.Mount("tmpfs", p, "tmpfs", 0, opts); err != nil {
					t.Fatalf("mounting tmpfs for emptyDir %q: %v", v.Name, err)
				}
				t.Cleanup(func() { _ = unix.Unmount(p, unix.MNT_DETACH) })
			}
		case v.HostPath != nil && v.HostPath.Type != nil && *v.HostPath.Type == corev1.HostPathCharDev:
			p = deviceStandIn(t, v.HostPath.Path, p)
		default:
			t.Fatalf("volume %q: the harness supports emptyDir and hostPath CharDevice volumes only", v.Name)
		}
		vols[v.Name] = p
	}
	return vols
}

// pluginDevices are the devices the node's device plugins allocate: Corral's tun plugin's
// /dev/net/tun (a stand-in node like the hostPath's).
func pluginDevices(t *testing.T, dir string) map[corev1.ResourceName]Device {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "devices"), 0o755); err != nil {
		t.Fatal(err)
	}
	tun := deviceStandIn(t, runner.TunPath, filepath.Join(dir, "devices", "tun"))
	return map[corev1.ResourceName]Device{runner.TunResource: {HostPath: tun, ContainerPath: runner.TunPath}}
}

// deviceStandIn makes a device node at p with the device numbers of the node's path,
// mode 0666: what udev gives /dev/net/tun on usual nodes (this host's is 0600, which the
// runner user could not open).
func deviceStandIn(t *testing.T, nodePath, p string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(nodePath, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Skipf("sandbox test skipped: %s is not a character device on this machine (err %v)", nodePath, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(st.Rdev)); err != nil {
		t.Fatalf("creating a stand-in for %s: %v", nodePath, err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

// podman runs `podman args...` with a timeout and returns its combined output.
func podman(t *testing.T, name string, args []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	args = append([]string{args[0], "--name=" + name}, args[1:]...)
	out, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput()
	if ctx.Err() != nil {
		_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
		return string(out), fmt.Errorf("container %s timed out after %s", name, runTimeout)
	}
	return string(out), err
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
