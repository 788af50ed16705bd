package runner

import (
	"fmt"
	"strings"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// ContainersConf is the ~/.config/containers/containers.conf the init container writes for
// rootless podman in Podman mode (SANDBOX_LAB findings 2 and 4):
//   - the pod's /proc and /sys are bind-mounted into job containers, because a fresh procfs
//     or sysfs cannot be mounted in a user namespace while the pod's are masked (cost: job
//     containers see the pod's processes, `podman pod` does not work);
//   - no default sysctls, because /proc/sys is read-only in the pod;
//   - with Host networking, netns = "host": no network namespace, so no /dev/net/tun;
//   - cgroupfs, file events and k8s-file logs: a pod has no systemd or journald.
func ContainersConf(pool *corralv1.RunnerPool) string {
	var b strings.Builder
	b.WriteString("[containers]\n")
	b.WriteString("volumes = [\"/proc:/proc\", \"/sys:/sys\"]\n")
	b.WriteString("default_sysctls = []\n")
	if nestedNetworking(pool) == corralv1.NestedNetworkingHost {
		b.WriteString("netns = \"host\"\n")
	}
	b.WriteString("log_driver = \"k8s-file\"\n")
	b.WriteString("\n[engine]\n")
	b.WriteString("cgroup_manager = \"cgroupfs\"\n")
	b.WriteString("events_logger = \"file\"\n")
	return b.String()
}

// StorageConf is the ~/.config/containers/storage.conf the init container writes in Podman
// mode: the kernel's native overlay driver on the home emptyDir (graph root
// ~/.local/share/containers/storage by default). It replaces the image's
// /etc/containers/storage.conf for the runner user, so an image configured for
// fuse-overlayfs does not make the pod need /dev/fuse.
func StorageConf() string {
	return "[storage]\ndriver = \"overlay\"\n"
}

// InitScript is the init container's shell script. It copies the image's runner files into
// the home emptyDir (entry by entry: the volume's root directory belongs to root and keeps
// its mode), and in Podman mode writes containers.conf and storage.conf and creates podman's
// runtime directory. With a CA bundle it writes the combined trust bundle (system roots
// plus the pool's CA) that SSL_CERT_FILE points to.
func InitScript(pool *corralv1.RunnerPool) string {
	var b strings.Builder
	b.WriteString("set -eu\n")
	fmt.Fprintf(&b, "find %s -mindepth 1 -maxdepth 1 -exec cp -a {} %s/ \\;\n", RunnerHome, InitHomeDir)
	if podmanEnabled(pool) {
		conf := InitHomeDir + "/.config/containers"
		fmt.Fprintf(&b, "mkdir -p %s\n", conf)
		writeFile(&b, conf+"/containers.conf", ContainersConf(pool))
		writeFile(&b, conf+"/storage.conf", StorageConf())
		fmt.Fprintf(&b, "mkdir -p %s\n", strings.TrimSuffix(initRuntimeDir(), "/1000"))
		fmt.Fprintf(&b, "mkdir -m 0700 %s\n", initRuntimeDir())
	}
	if pool.Spec.GitHub.CABundle != nil {
		bundle := InitHomeDir + strings.TrimPrefix(TrustBundleFile, RunnerHome)
		fmt.Fprintf(&b, "mkdir -p %s\n", bundle[:strings.LastIndex(bundle, "/")])
		fmt.Fprintf(&b, "for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do\n")
		fmt.Fprintf(&b, "  if [ -f \"$f\" ]; then cat \"$f\" > %s; break; fi\n", bundle)
		b.WriteString("done\n")
		fmt.Fprintf(&b, "cat %s >> %s\n", CABundleFile, bundle)
	}
	return b.String()
}

// initRuntimeDir is RuntimeDir as the init container sees it.
func initRuntimeDir() string {
	return InitRunDir + strings.TrimPrefix(RuntimeDir, RunDir)
}

// writeFile appends a here-document that writes content to path.
func writeFile(b *strings.Builder, path, content string) {
	fmt.Fprintf(b, "cat > %s <<'EOF'\n%sEOF\n", path, content)
}

// RunnerScript is the runner container's shell script in Podman mode: it starts the
// docker-compatible API (`podman system service`, no idle timeout) on DockerSocketPath in
// the background, then replaces itself with run.sh, which stays the container's main
// process (its exit code is the pod's; the service dies with the container).
func RunnerScript() string {
	return fmt.Sprintf("set -eu\npodman system service --time=0 unix://%s &\nexec %s\n", DockerSocketPath, RunScript)
}
