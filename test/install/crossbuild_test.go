package install

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrossBuild builds cmd/corral for linux/amd64 and linux/arm64 with exactly the
// Dockerfile's `go build` line (there is no container engine here), and checks each binary:
// the right ELF machine, statically linked, -trimpath and CGO_ENABLED=0 recorded, the version
// stamped.
func TestCrossBuild(t *testing.T) {
	requireInstallTests(t)
	line := goBuildLine(t, parseDockerfile(t, "Dockerfile"))
	const version = "v0.0.0-crossbuild-test"
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "corral")
			env, args := dockerfileCommand(t, line, map[string]string{
				"TARGETOS": "linux", "TARGETARCH": arch, "VERSION": version,
			}, out)
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = repoRoot(t)
			cmd.Env = append(os.Environ(), env...)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(append(env, args...), " "), err, msg)
			}

			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machines[arch] {
				t.Errorf("ELF machine %s, want %s", f.Machine, machines[arch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("binary is dynamically linked (program header %s)", p.Type)
				}
			}
			info, err := buildinfo.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			for k, v := range map[string]string{"-trimpath": "true", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": arch} {
				if settings[k] != v {
					t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
				}
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(version)) {
				t.Error("version not stamped into the binary (-X main.version)")
			}
			if bytes.Contains(data, []byte(repoRoot(t))) {
				t.Error("binary contains the build directory: -trimpath did not apply")
			}
		})
	}
}

// dockerfileCommand turns the Dockerfile's `VAR=value ... go build ... -o PATH ./cmd/corral`
// into an environment and an argv: ${NAME} expanded from vars, double quotes grouping words,
// the output path replaced by out.
func dockerfileCommand(t *testing.T, line string, vars map[string]string, out string) (env, args []string) {
	t.Helper()
	expanded := os.Expand(line, func(name string) string {
		v, ok := vars[name]
		if !ok {
			t.Fatalf("the go build line uses ${%s}, which the test does not set", name)
		}
		return v
	})
	var words []string
	var cur strings.Builder
	quoted := false
	for _, r := range expanded {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("cannot parse the go build line %q", line)
	}
	for i := range words {
		if words[i] == "-o" && i+1 < len(words) {
			words[i+1] = out
		}
	}
	return env, words
}
