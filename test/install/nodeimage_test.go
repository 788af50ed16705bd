package install

import (
	"strings"
	"testing"
)

// TestNodeControllerImageIsTheDockerfiles: the real-node tier's controller image
// (hack/node/build-images.sh, FROM scratch since distroless cannot be pulled there) is built
// with the Dockerfile's `go build` flags and runs as its runtime stage does, so what the
// node tier proves holds for the released image.
func TestNodeControllerImageIsTheDockerfiles(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	final := stages(ins)[1]
	want := buildFlags(t, "Dockerfile", goBuildLine(t, ins))

	script := string(readRepoFile(t, "hack/node/build-images.sh"))
	var line string
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, "go build") && strings.Contains(l, "./cmd/corral") {
			line = l
		}
	}
	if line == "" {
		t.Fatal("hack/node/build-images.sh has no `go build ... ./cmd/corral` line")
	}
	if got := buildFlags(t, "hack/node/build-images.sh", line); got != want {
		t.Errorf("hack/node/build-images.sh builds the controller with %q, the Dockerfile with %q", got, want)
	}
	if !strings.Contains(line, "CGO_ENABLED=0") {
		t.Errorf("hack/node/build-images.sh's go build line %q is not static (CGO_ENABLED=0)", line)
	}
	for _, in := range []string{"USER " + find(final, "USER")[0], "ENTRYPOINT " + find(final, "ENTRYPOINT")[0]} {
		if !strings.Contains(script, "\n"+in+"\n") {
			t.Errorf("hack/node/build-images.sh's controller Containerfile lacks the Dockerfile's %q", in)
		}
	}
}

// buildFlags is what a `go build` line passes between "go build" and "-o", with variable
// names folded to lower case (the Dockerfile's ${VERSION} is the script's ${version}).
func buildFlags(t *testing.T, file, line string) string {
	t.Helper()
	_, rest, ok := strings.Cut(line, "go build ")
	flags, _, ok2 := strings.Cut(rest, " -o ")
	if !ok || !ok2 {
		t.Fatalf("%s: cannot read the flags of %q", file, line)
	}
	return strings.ToLower(flags)
}
