package runner

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

func TestContainersConf(t *testing.T) {
	isolated := ContainersConf(gen.RunnerPool("p"))
	host := ContainersConf(gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost)))
	for name, conf := range map[string]string{"isolated": isolated, "host": host} {
		for _, line := range []string{
			"[containers]",
			`volumes = ["/proc:/proc", "/sys:/sys"]`,
			"default_sysctls = []",
			`cgroup_manager = "cgroupfs"`,
		} {
			if !strings.Contains(conf, line+"\n") {
				t.Errorf("%s containers.conf lacks %q:\n%s", name, line, conf)
			}
		}
	}
	if strings.Contains(isolated, "netns") {
		t.Errorf("Isolated containers.conf sets netns:\n%s", isolated)
	}
	if !strings.Contains(host, `netns = "host"`+"\n") {
		t.Errorf("Host containers.conf lacks netns = \"host\":\n%s", host)
	}
}

// runInitScript runs pool's init script with its absolute paths moved under a temporary
// directory, and returns that directory.
func runInitScript(t *testing.T, pool *corralv1.RunnerPool) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	root := t.TempDir()
	for _, dir := range []string{"src", "home", "run", "ca"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"src/run.sh": "#!/bin/sh\n", "src/.runner-version": "2.330.0\n", "src/bin/Runner.Listener": "elf", "ca/ca.crt": "CORP-CA\n"}
	for path, content := range files {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := strings.NewReplacer(
		RunnerHome, filepath.Join(root, "src"),
		InitHomeDir, filepath.Join(root, "home"),
		InitRunDir, filepath.Join(root, "run"),
		CABundleDir, filepath.Join(root, "ca"),
	).Replace(InitScript(pool))
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("init script failed: %v\n%s\nscript:\n%s", err, out, script)
	}
	return root
}

func TestInitScriptPodman(t *testing.T) {
	pool := gen.RunnerPool("p", gen.WithNetworking(corralv1.NestedNetworkingHost), gen.WithCABundle("ca", ""))
	root := runInitScript(t, pool)
	for path, want := range map[string]string{
		"home/run.sh":                             "#!/bin/sh\n",
		"home/.runner-version":                    "2.330.0\n",
		"home/bin/Runner.Listener":                "elf",
		"home/.config/containers/containers.conf": ContainersConf(pool),
		"home/.config/containers/storage.conf":    StorageConf(),
	} {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", path, got, err, want)
		}
	}
	info, err := os.Stat(filepath.Join(root, "home/run.sh"))
	if err != nil || info.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh lost its executable bit: %v %v", info, err)
	}
	rt, err := os.Stat(filepath.Join(root, "run/user/1000"))
	if err != nil || !rt.IsDir() || rt.Mode().Perm() != 0o700 {
		t.Errorf("runtime dir = %v (%v), want a 0700 directory", rt, err)
	}
	bundle, err := os.ReadFile(filepath.Join(root, "home/.corral/ca-bundle.crt"))
	if err != nil || !strings.HasSuffix(string(bundle), "CORP-CA\n") {
		t.Errorf("trust bundle = %q (%v), want it to end with the pool's CA", bundle, err)
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil && len(bundle) <= len("CORP-CA\n") {
		t.Error("trust bundle lacks the system roots")
	}
}

func TestInitScriptNone(t *testing.T) {
	pool := gen.RunnerPool("p", gen.WithContainers(corralv1.ContainersNone))
	script := InitScript(pool)
	for _, absent := range []string{"containers.conf", "storage.conf", InitRunDir, "ca-bundle"} {
		if strings.Contains(script, absent) {
			t.Errorf("None-mode init script mentions %q:\n%s", absent, script)
		}
	}
	root := runInitScript(t, pool)
	if _, err := os.Stat(filepath.Join(root, "home/run.sh")); err != nil {
		t.Errorf("runner files not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "home/.config")); !os.IsNotExist(err) {
		t.Errorf("None mode wrote container configuration: %v", err)
	}
}

func TestRunnerScript(t *testing.T) {
	s := RunnerScript()
	if !strings.Contains(s, "podman system service --time=0 unix:///var/run/docker.sock &\n") {
		t.Errorf("runner script does not start the docker-compatible socket:\n%s", s)
	}
	if !strings.HasSuffix(s, "exec /home/runner/run.sh\n") {
		t.Errorf("runner script must end by exec'ing run.sh:\n%s", s)
	}
	if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
		t.Errorf("runner script does not parse: %v\n%s", err, out)
	}
}
