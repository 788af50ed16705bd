package sandbox

import (
	"slices"
	"strings"
	"testing"
)

// TestScriptSteps checks each mode runs its steps in order and ends with the done marker.
func TestScriptSteps(t *testing.T) {
	for _, isolated := range []bool{true, false} {
		s := Job{InnerImage: "localhost/bb:1", InnerArchive: "/bb.tar", Isolated: isolated}.Script()
		want := []string{StepIdentity, StepSocket, StepLoad, StepRun, StepBuild, StepLocalhost}
		if isolated {
			want[len(want)-1] = StepNetwork
		}
		var got []string
		for _, line := range strings.Split(s, "\n") {
			if name, ok := strings.CutPrefix(line, "step "); ok {
				got = append(got, strings.Fields(name)[0])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("isolated=%v: steps %v, want %v", isolated, got, want)
		}
		if !strings.HasSuffix(s, "echo '"+doneMarker+"'\n") || !strings.Contains(s, "podman load -q -i /bb.tar") {
			t.Errorf("isolated=%v: script does not load the archive or end with the done marker:\n%s", isolated, s)
		}
		if isolated != strings.Contains(s, "--network-alias database") {
			t.Errorf("isolated=%v: the alias check must run exactly in Isolated mode", isolated)
		}
	}
}

// TestParseOutput reads markers from a failing and a passing run.
func TestParseOutput(t *testing.T) {
	failed := ParseOutput("noise\n=== step: identity\nuid=1000\n=== step: podman-run\nError: boom\n=== failed: podman-run\n")
	if failed.Passed || failed.FailedStep != StepRun || !slices.Equal(failed.Steps, []string{StepIdentity, StepRun}) {
		t.Errorf("failed run parsed as %+v", failed)
	}
	passed := ParseOutput("=== step: identity\n" + doneMarker + "\n")
	if !passed.Passed || passed.FailedStep != "" {
		t.Errorf("passing run parsed as %+v", passed)
	}
}

// TestHint maps the failures the negative cases provoke to the setting that causes them.
func TestHint(t *testing.T) {
	tests := []struct{ step, out, want string }{
		{StepSocket, "cannot clone: Operation not permitted", "RuntimeDefault"},
		{StepSocket, "newuidmap: write to uid_map failed: Operation not permitted", "allowPrivilegeEscalation"},
		{StepBuild, `level=error msg="error mounting \"proc\" to rootfs`, "BUILDAH_ISOLATION=chroot"},
		{StepRun, `error mounting "proc" to rootfs at "/proc"`, "must bind /proc"},
		{StepRun, `error mounting "sysfs" to rootfs at "/sys"`, "must bind /sys"},
		{StepRun, `open("/dev/net/tun"): No such file or directory`, "/dev/net/tun"},
		{StepBuild, `chrooting to directory "/x": operation not permitted`, "blocks chroot"},
		{StepNetwork, "netavark: Sysctl error: IO Error: Read-only file system", "ip_forward"},
		{StepRun, "all good", ""},
	}
	for _, tc := range tests {
		if got := Hint(tc.step, tc.out); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("Hint(%s, %q) = %q, want it to mention %q", tc.step, tc.out, got, tc.want)
		}
	}
}
