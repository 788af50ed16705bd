package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite config/seccomp from the generator")

// configDir is config/seccomp, seen from this package's directory.
const configDir = "../../config/seccomp"

// TestConfigUpToDate fails when config/seccomp differs from what the generator writes.
func TestConfigUpToDate(t *testing.T) {
	files, err := configFiles()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		path := filepath.Join(configDir, name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run `go run ./hack/seccomp` from the repository root)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is out of date: run `go run ./hack/seccomp` from the repository root", path)
		}
	}
}

// TestPodmanProfileIsDefaultPlusOneRule checks the profile is the runtime default with
// exactly one added, unconditional rule allowing podmanSyscalls.
func TestPodmanProfileIsDefaultPlusOneRule(t *testing.T) {
	p, err := podmanProfile(nil)
	if err != nil {
		t.Fatal(err)
	}
	base := runtimeDefault()
	if len(p.Syscalls) != len(base.Syscalls)+1 {
		t.Fatalf("profile has %d rules, want the default's %d plus one", len(p.Syscalls), len(base.Syscalls))
	}
	mustJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	p.Syscalls, base.Syscalls = p.Syscalls[:len(base.Syscalls)], base.Syscalls[:len(base.Syscalls)]
	if mustJSON(p) != mustJSON(base) {
		t.Error("the runtime default part of the profile differs from moby/profiles/seccomp")
	}
	full, _ := podmanProfile(nil)
	added := full.Syscalls[len(full.Syscalls)-1]
	if added.Includes != nil || added.Excludes != nil || len(added.Args) > 0 || added.Action != specs.ActAllow {
		t.Errorf("added rule must be an unconditional allow, got %+v", added)
	}
	if !slices.Equal(added.Names, podmanSyscalls()) {
		t.Errorf("added syscalls = %v, want %v", added.Names, podmanSyscalls())
	}
}

// TestResolvedProfiles resolves both profiles the way the runtime does for a runner
// container holding only SETUID and SETGID: the default blocks what podman needs, ours
// allows each of podmanSyscalls without conditions.
func TestResolvedProfiles(t *testing.T) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: []string{"CAP_SETUID", "CAP_SETGID"},
	}}}
	resolve := func(p *seccomp.Seccomp) map[string]bool {
		b, err := profileJSON(p)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := seccomp.LoadProfile(string(b), spec)
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{}
		for _, sc := range rs.Syscalls {
			for _, n := range sc.Names {
				if sc.Action == specs.ActAllow && len(sc.Args) == 0 {
					allowed[n] = true
				}
			}
		}
		return allowed
	}
	ours, _ := podmanProfile(nil)
	withPodman, def := resolve(ours), resolve(runtimeDefault())
	for _, n := range podmanSyscalls() {
		if !withPodman[n] {
			t.Errorf("%s is not allowed unconditionally by the podman profile", n)
		}
	}
	for _, n := range []string{"clone", "unshare", "mount", "setns", "pivot_root", "chroot"} {
		if def[n] {
			t.Errorf("the runtime default allows %s without conditions; the negative test would prove nothing", n)
		}
	}
}

// TestOmit checks negative-test profiles leave out exactly what they are asked to.
func TestOmit(t *testing.T) {
	p, err := podmanProfile([]string{"mount", "setns"})
	if err != nil {
		t.Fatal(err)
	}
	added := p.Syscalls[len(p.Syscalls)-1].Names
	if slices.Contains(added, "mount") || slices.Contains(added, "setns") || len(added) != len(podmanSyscalls())-2 {
		t.Errorf("added = %v, want all but mount and setns", added)
	}
	if _, err := podmanProfile([]string{"read"}); err == nil {
		t.Error("omitting a syscall that is not added must fail")
	}
}

// TestFlattenMatchesRuntime checks flatten resolves conditions as moby's loader does for a
// container without capabilities on this architecture.
func TestFlattenMatchesRuntime(t *testing.T) {
	p, _ := podmanProfile(nil)
	flat, err := flatten(p, runtime.GOARCH, nil)
	if err != nil {
		t.Skipf("architecture not covered: %v", err)
	}
	b, _ := profileJSON(p)
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	want, err := seccomp.LoadProfile(string(b), spec)
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(flat)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("flatten differs from the runtime's resolution:\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

// TestSPOProfile checks the SeccompProfile example parses and carries the added syscalls.
func TestSPOProfile(t *testing.T) {
	p, _ := podmanProfile(nil)
	b, err := spoSeccompProfile(p, "arm64", nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Kind string `json:"kind"`
		Spec struct {
			Architectures []string             `json:"architectures"`
			Syscalls      []specs.LinuxSyscall `json:"syscalls"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Kind != "SeccompProfile" || !slices.Equal(obj.Spec.Architectures, []string{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}) {
		t.Errorf("kind %q, architectures %v", obj.Kind, obj.Spec.Architectures)
	}
	last := obj.Spec.Syscalls[len(obj.Spec.Syscalls)-1]
	if !slices.Equal(last.Names, podmanSyscalls()) {
		t.Errorf("last rule = %v, want the added syscalls", last.Names)
	}
	if _, err := spoSeccompProfile(p, "mips", nil); err == nil {
		t.Error("an unsupported architecture must fail")
	}
}
