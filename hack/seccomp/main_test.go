package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/profiles/seccomp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestRunFlags checks the command line: single profiles with -o, and misuse rejected.
func TestRunFlags(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) *seccomp.Seccomp {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var p seccomp.Seccomp
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	if err := run([]string{"-base", "-o", filepath.Join(dir, "base.json")}); err != nil {
		t.Fatal(err)
	}
	if got, want := len(read("base.json").Syscalls), len(runtimeDefault().Syscalls); got != want {
		t.Errorf("-base wrote %d rules, want the default's %d", got, want)
	}
	if err := run([]string{"-omit", "keyctl", "-o", filepath.Join(dir, "omit.json")}); err != nil {
		t.Fatal(err)
	}
	p := read("omit.json")
	if names := p.Syscalls[len(p.Syscalls)-1].Names; strings.Contains(strings.Join(names, ","), "keyctl") {
		t.Errorf("-omit keyctl still allows it: %v", names)
	}
	if err := run([]string{"-dir", dir}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"podman.json", "installer.yaml", "spo-seccompprofile.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("-dir did not write %s: %v", name, err)
		}
	}
	for _, bad := range [][]string{{"-omit", "mount"}, {"-base", "-omit", "mount", "-o", "x"}, {"-dir", filepath.Join(dir, "missing")}} {
		if err := run(bad); err == nil {
			t.Errorf("run(%q) succeeded, want an error", bad)
		}
	}
}

// TestInstaller checks the installer manifest decodes strictly into a ConfigMap holding the
// profile and a DaemonSet that mounts it and rolls when it changes.
func TestInstaller(t *testing.T) {
	profile := []byte(`{"defaultAction":"SCMP_ACT_ERRNO"}` + "\n")
	b, err := installer(profile)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("want 2 documents, got %d", len(docs))
	}
	var cm corev1.ConfigMap
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &cm); err != nil {
		t.Fatalf("ConfigMap: %v", err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &ds); err != nil {
		t.Fatalf("DaemonSet: %v", err)
	}
	if cm.Data["podman.json"] != string(profile) {
		t.Errorf("ConfigMap holds %q, want the profile", cm.Data["podman.json"])
	}
	sum := sha256.Sum256(profile)
	if got := ds.Spec.Template.Annotations["corral.run/profile-sha256"]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("profile hash annotation = %q", got)
	}
	vols := ds.Spec.Template.Spec.Volumes
	if len(vols) != 2 || vols[0].ConfigMap == nil || vols[0].ConfigMap.Name != cm.Name || vols[1].HostPath == nil || vols[1].HostPath.Path != "/var/lib/kubelet/seccomp" {
		t.Errorf("volumes = %+v, want the ConfigMap and the kubelet's seccomp directory", vols)
	}
	if ds.Namespace != cm.Namespace || ds.Namespace != installerNamespace {
		t.Errorf("namespaces %q/%q, want %q", cm.Namespace, ds.Namespace, installerNamespace)
	}
}
