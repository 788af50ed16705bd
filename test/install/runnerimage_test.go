package install

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

const runnerImageDir = "hack/runner-image"

// TestRunnerImageMatchesSandbox: the reference runner image installs the sandbox test's
// package list and runs its rootfs script (the build context is hack/, so both are the very
// files, not copies), and installs no sudo.
func TestRunnerImageMatchesSandbox(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join(runnerImageDir, "Containerfile"))
	copies := find(ins, "COPY")
	runs := strings.Join(find(ins, "RUN"), "\n")
	for _, src := range []string{"sandbox/packages.txt", "sandbox/configure-rootfs.sh"} {
		var dest string
		for _, c := range copies {
			if f := strings.Fields(c); len(f) == 2 && f[0] == src {
				dest = f[1]
			}
		}
		if dest == "" {
			t.Errorf("Containerfile does not COPY %s (build context hack/)", src)
			continue
		}
		if !strings.Contains(runs, dest) {
			t.Errorf("Containerfile copies %s to %s but no RUN uses it", src, dest)
		}
	}
	if !strings.Contains(runs, "grep -v '^[[:space:]]*#' /tmp/corral/packages.txt | xargs") ||
		!strings.Contains(runs, "apt-get install -y --no-install-recommends") {
		t.Error("Containerfile does not install packages.txt without recommends, as debootstrap --variant=minbase does in the sandbox test")
	}
	if strings.Contains(runs, "sudo") {
		t.Error("the runner image must not install sudo (the runner keeps SETUID/SETGID)")
	}
	if !strings.Contains(runs, "RUNNER_UID=1000") {
		t.Error("configure-rootfs.sh must run for UID 1000, the runner pod's user")
	}
	if users := find(ins, "USER"); len(users) != 1 || users[0] != "1000:1000" {
		t.Errorf("USER %v, want 1000:1000 (runner.RunnerUID)", users)
	}
	if wd := find(ins, "WORKDIR"); len(wd) != 1 || wd[0] != runner.RunnerHome {
		t.Errorf("WORKDIR %v, want %s (runner.RunnerHome)", wd, runner.RunnerHome)
	}
	args := strings.Join(find(ins, "ARG"), "\n")
	if !strings.Contains(args, "TARGETARCH") {
		t.Error("Containerfile ignores TARGETARCH: it cannot be built multi-arch")
	}
}

// TestRunnerImageVersionIsDefault: the image's runner version is the tag of the CRD's
// default runner image, so a pool with defaults runs what this recipe builds.
func TestRunnerImageVersionIsDefault(t *testing.T) {
	var version string
	for _, a := range find(parseDockerfile(t, filepath.Join(runnerImageDir, "Containerfile")), "ARG") {
		if v, ok := strings.CutPrefix(a, "RUNNER_VERSION="); ok {
			version = v
		}
	}
	image := crdDefaultRunnerImage(t)
	_, tag, ok := strings.Cut(image, ":")
	if !ok || tag != version || version == "" {
		t.Errorf("CRD default image %q, Containerfile RUNNER_VERSION=%q", image, version)
	}
}

// crdDefaultRunnerImage is the RunnerPool CRD's default spec.template.image.
func crdDefaultRunnerImage(t *testing.T) string {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(readRepoFile(t, "config/crd/bases/corral.run_runnerpools.yaml"), &crd); err != nil {
		t.Fatal(err)
	}
	prop := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["template"].Properties["image"]
	var image string
	if prop.Default == nil || json.Unmarshal(prop.Default.Raw, &image) != nil {
		t.Fatalf("the CRD has no string default for spec.template.image")
	}
	return image
}

// TestRunnerImageConfigMatchesPod: the image's /etc/containers files and entry point are what
// Corral's runner pod writes and runs, so the image behaves the same inside and outside Corral.
func TestRunnerImageConfigMatchesPod(t *testing.T) {
	pool := gen.RunnerPool("p") // Podman, Isolated: the defaults
	checks := []struct{ file, want string }{
		{"containers.conf", runner.ContainersConf(pool)},
		{"storage.conf", runner.StorageConf()},
	}
	for _, c := range checks {
		got := withoutComments(string(readRepoFile(t, filepath.Join(runnerImageDir, c.file))))
		if got != c.want {
			t.Errorf("%s:\n%s\nwant (internal/runner):\n%s", c.file, got, c.want)
		}
	}
	entry := string(readRepoFile(t, filepath.Join(runnerImageDir, "entrypoint.sh")))
	for _, line := range strings.Split(strings.TrimSpace(runner.RunnerScript()), "\n") {
		if !strings.Contains(entry, line) {
			t.Errorf("entrypoint.sh lacks the pod's step %q", line)
		}
	}
	if msg, err := exec.Command("sh", "-n", filepath.Join(repoRoot(t), runnerImageDir, "entrypoint.sh")).CombinedOutput(); err != nil {
		t.Errorf("entrypoint.sh: %v\n%s", err, msg)
	}
	ins := parseDockerfile(t, filepath.Join(runnerImageDir, "Containerfile"))
	copies := strings.Join(find(ins, "COPY"), "\n")
	for _, want := range []string{
		"runner-image/containers.conf /etc/containers/containers.conf",
		"runner-image/storage.conf /etc/containers/storage.conf",
		"runner-image/entrypoint.sh /usr/local/bin/corral-runner-entrypoint",
	} {
		if !strings.Contains(copies, want) {
			t.Errorf("Containerfile does not COPY %s", want)
		}
	}
}

// withoutComments drops comment lines and the blank lines before the first setting.
func withoutComments(s string) string {
	var out []string
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, "#") || (len(out) == 0 && strings.TrimSpace(line) == "") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "")
}

// TestRunnerImageEnvMatchesPod: the image sets every plain variable a Podman runner pod
// gets from Corral, with the same value, so it behaves the same outside Corral.
func TestRunnerImageEnvMatchesPod(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join(runnerImageDir, "Containerfile"))
	env := map[string]string{}
	for _, e := range find(ins, "ENV") {
		for _, kv := range strings.Fields(e) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	pod := runner.BuildPod(gen.RunnerPool("p"), "p-abc123-xyz12", "p-abc123-xyz12")
	var checked int
	for _, c := range pod.Spec.Containers {
		if c.Name != runner.RunnerContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				continue // the JIT configuration
			}
			checked++
			if env[e.Name] != e.Value {
				t.Errorf("image ENV %s=%q, the runner pod sets %q", e.Name, env[e.Name], e.Value)
			}
		}
	}
	if checked == 0 {
		t.Fatal("the runner pod has no plain environment variables to compare")
	}
}
