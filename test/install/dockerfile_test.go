package install

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case, e.g. FROM
	args string
}

// parseDockerfile splits a Dockerfile (or Containerfile) into instructions, skipping
// comments and joining lines that end in a backslash.
func parseDockerfile(t *testing.T, rel string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(readRepoFile(t, rel)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stages splits instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// find returns the args of the instructions of cmd in ins.
func find(ins []instruction, cmd string) []string {
	var out []string
	for _, in := range ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// goBuildLine returns the build stage's RUN instruction that runs `go build`, without its
// --mount options.
func goBuildLine(t *testing.T, ins []instruction) string {
	t.Helper()
	for _, run := range find(ins, "RUN") {
		if !strings.Contains(run, "go build") {
			continue
		}
		fields := strings.Fields(run)
		for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
			fields = fields[1:]
		}
		return strings.Join(fields, " ")
	}
	t.Fatal("no RUN ... go build in the Dockerfile")
	return ""
}

// TestDockerfile checks the controller image's recipe: cross-compiled on the build platform,
// static, trimmed, version-stamped, on distroless static nonroot as 65532:65532, with the Go
// version go.mod asks for.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	st := stages(ins)
	if len(st) != 2 {
		t.Fatalf("%d stages, want build and runtime", len(st))
	}
	build, final := st[0], st[1]
	if from := build[0].args; !strings.HasPrefix(from, "--platform=$BUILDPLATFORM ") || !strings.Contains(from, "golang:${GO_VERSION}") {
		t.Errorf("build stage FROM %q: want --platform=$BUILDPLATFORM and golang:${GO_VERSION}", from)
	}
	for _, arg := range []string{"TARGETOS", "TARGETARCH", "VERSION=dev"} {
		if !slices.Contains(find(build, "ARG"), arg) {
			t.Errorf("build stage lacks ARG %s", arg)
		}
	}
	line := goBuildLine(t, ins)
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=${TARGETOS}", "GOARCH=${TARGETARCH}", "go build -trimpath",
		`-ldflags "-s -w -X main.version=${VERSION}"`, "./cmd/corral"} {
		if !strings.Contains(line, want) {
			t.Errorf("go build line %q lacks %q", line, want)
		}
	}
	if from := final[0].args; !strings.HasPrefix(from, "gcr.io/distroless/static") || !strings.HasSuffix(from, ":nonroot") {
		t.Errorf("runtime stage FROM %q, want gcr.io/distroless/static...:nonroot", from)
	}
	if users := find(final, "USER"); !slices.Equal(users, []string{"65532:65532"}) {
		t.Errorf("runtime USER %v, want exactly 65532:65532", users)
	}
	if ep := find(final, "ENTRYPOINT"); !slices.Equal(ep, []string{`["/corral"]`}) {
		t.Errorf("ENTRYPOINT %v", ep)
	}
	if copies := find(final, "COPY"); !slices.Equal(copies, []string{"--from=build /out/corral /corral"}) {
		t.Errorf("runtime stage copies %v, want only the binary", copies)
	}
	goVersion := ""
	for _, a := range find(ins, "ARG") {
		if v, ok := strings.CutPrefix(a, "GO_VERSION="); ok {
			goVersion = v
		}
	}
	if modGo := goModVersion(t); goVersion == "" || !strings.HasPrefix(modGo, goVersion) {
		t.Errorf("ARG GO_VERSION=%q, go.mod says go %s", goVersion, modGo)
	}
}

// TestDockerfileCopiesEverythingNeeded: the build stage copies every directory holding a
// package of this module that cmd/corral links, and .dockerignore keeps them.
func TestDockerfileCopiesEverythingNeeded(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	var copied []string
	for _, c := range find(stages(ins)[0], "COPY") {
		fields := strings.Fields(c)
		copied = append(copied, fields[:len(fields)-1]...)
	}
	out, err := run(t, "go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./cmd/corral")
	if err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t) + "/"
	for _, dir := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(dir, root) + "/"
		top, _, _ := strings.Cut(rel, "/")
		if !slices.Contains(copied, top+"/") {
			t.Errorf("cmd/corral links %s, but the Dockerfile does not COPY %s/", rel, top)
		}
	}
	ignore := strings.Fields(string(readRepoFile(t, ".dockerignore")))
	if !slices.Contains(ignore, "*") {
		t.Fatal(".dockerignore should start from * (send nothing by default)")
	}
	for _, src := range copied {
		if !slices.Contains(ignore, "!"+src) {
			t.Errorf(".dockerignore does not keep %s, which the Dockerfile copies", src)
		}
	}
}

// goModVersion returns the go directive of go.mod.
func goModVersion(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(string(readRepoFile(t, "go.mod")), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}
