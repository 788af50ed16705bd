package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const releaseWorkflow = ".github/workflows/release.yml"

// workflow is the part of a GitHub Actions workflow the release tests read.
type workflow struct {
	// On is the trigger; sigs.k8s.io/yaml reads the bare key `on` as YAML 1.1's true.
	On          map[string]any    `json:"true"`
	Permissions map[string]string `json:"permissions"`
	Jobs        map[string]struct {
		Permissions map[string]string `json:"permissions"`
		Steps       []struct {
			Uses string `json:"uses"`
			Run  string `json:"run"`
		} `json:"steps"`
	} `json:"jobs"`
}

// TestReleaseWorkflow: the release runs on version tags only, with no permission beyond
// reading the code and writing packages, actions pinned to commits, no expression expanded
// inside a script (the tag and the token reach scripts through env), and its steps are the
// Makefile's, so what it publishes is what `make images` and `make chart-package` build.
func TestReleaseWorkflow(t *testing.T) {
	var wf workflow
	if err := yaml.Unmarshal(readRepoFile(t, releaseWorkflow), &wf); err != nil {
		t.Fatal(err)
	}
	if len(wf.On) != 1 || wf.On["push"] == nil {
		t.Errorf("release triggers on %v, want push (of tags) only", wf.On)
	}
	if push, _ := wf.On["push"].(map[string]any); len(push) != 1 || !slices.Equal(toStrings(push["tags"]), []string{"v*"}) {
		t.Errorf("release runs on push %v, want tags [v*] only", push)
	}
	if wf.Permissions == nil || len(wf.Permissions) != 0 {
		t.Errorf("top-level permissions %v, want {} (each job asks for its own)", wf.Permissions)
	}
	allowed := map[string]string{"contents": "read", "packages": "write"}
	pinned := regexp.MustCompile(`^[\w.-]+/[\w.-]+@[0-9a-f]{40}$`)
	var runs []string
	for name, job := range wf.Jobs {
		for scope, level := range job.Permissions {
			if allowed[scope] != level {
				t.Errorf("job %s asks for %s: %s; allowed: %v", name, scope, level, allowed)
			}
		}
		for _, s := range job.Steps {
			if s.Uses != "" && !pinned.MatchString(s.Uses) {
				t.Errorf("job %s uses %q: pin actions to a full commit SHA", name, s.Uses)
			}
			if strings.Contains(s.Run, "${{") {
				t.Errorf("job %s expands an expression inside a script (pass it through env):\n%s", name, s.Run)
			}
			runs = append(runs, s.Run)
		}
	}
	script := strings.Join(runs, "\n")
	for _, target := range []string{"make registry-login", "make images-push", "make chart-push"} {
		if !strings.Contains(script, target) {
			t.Errorf("the release does not run %q", target)
		}
	}
}

// TestReleaseNames: the names the release pushes to are the ones the chart, the CRD and the
// docs use: the controller image is values.yaml's image.repository tagged with the release's
// tag, the runner image the CRD's default, and the chart the OCI path the docs install from.
func TestReleaseNames(t *testing.T) {
	vars := makeVars(t, nil, "CONTROLLER_IMAGE", "RUNNER_IMAGE", "RUNNER_VERSION", "CHART_REGISTRY")
	var values struct {
		Image struct{ Repository string } `json:"image"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "charts/corral/values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	if vars["CONTROLLER_IMAGE"] != values.Image.Repository {
		t.Errorf("make pushes the controller to %q, values.yaml pulls %q", vars["CONTROLLER_IMAGE"], values.Image.Repository)
	}
	if got, want := vars["RUNNER_IMAGE"]+":"+vars["RUNNER_VERSION"], crdDefaultRunnerImage(t); got != want {
		t.Errorf("make pushes the runner image as %q, the CRD's default is %q", got, want)
	}
	chart := vars["CHART_REGISTRY"] + "/corral"
	if doc := string(readRepoFile(t, "docs/install.md")); !strings.Contains(doc, chart) {
		t.Errorf("docs/install.md does not install the released chart from %s", chart)
	}

	// A release vX.Y.Z: images tagged with the tag, the chart versioned X.Y.Z with appVersion
	// vX.Y.Z (its default image tag).
	release := []string{"IMAGE_TAG=v1.2.3", "CHART_VERSION=1.2.3", "PLATFORMS=linux/amd64,linux/arm64"}
	dry := makeDryRun(t, append(release, "images-push", "chart-push"))
	for _, want := range []string{
		"CONTROLLER_IMAGE=" + values.Image.Repository + ":v1.2.3",
		"RUNNER_IMAGE=" + crdDefaultRunnerImage(t),
		"PLATFORMS=linux/amd64,linux/arm64",
		"hack/images.sh build controller runner",
		"hack/images.sh push controller runner",
		"--version 1.2.3 --app-version v1.2.3",
		"/corral-1.2.3.tgz " + vars["CHART_REGISTRY"],
	} {
		if !strings.Contains(dry, want) {
			t.Errorf("make images-push chart-push %v does not run %q:\n%s", release, want, dry)
		}
	}
}

// TestReleaseWorkflowLints: actionlint (with shellcheck when on PATH) finds nothing in the
// workflows.
func TestReleaseWorkflowLints(t *testing.T) {
	actionlint := tool(t, "ACTIONLINT")
	if out, err := run(t, actionlint, "-no-color"); err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}

// TestReleaseChartPullsReleasedImage packages the chart as the release does and renders it:
// with no values set, it runs the controller image of its own release.
func TestReleaseChartPullsReleasedImage(t *testing.T) {
	helm := tool(t, "HELM")
	dir := t.TempDir()
	if _, err := run(t, helm, "package", "charts/corral", "--version", "1.2.3", "--app-version", "v1.2.3", "-d", dir); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, helm, "template", "corral", filepath.Join(dir, "corral-1.2.3.tgz"), "-n", "corral-system")
	if err != nil {
		t.Fatal(err)
	}
	if want := "image: ghcr.io/corral-run/corral:v1.2.3"; !strings.Contains(string(out), want) {
		t.Errorf("the packaged chart does not render %q", want)
	}
}

// makeVars returns the values make gives the named variables, with overrides (VAR=value).
func makeVars(t *testing.T, overrides []string, names ...string) map[string]string {
	t.Helper()
	args := append([]string{"-s", "--no-print-directory", "--eval", "print-%: ; @echo '$*=$($*)'"}, overrides...)
	for _, n := range names {
		args = append(args, "print-"+n)
	}
	out, err := run(t, "make", args...)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	return vars
}

// makeDryRun returns what `make -n args...` would run, helm assumed built.
func makeDryRun(t *testing.T, args []string) string {
	t.Helper()
	helm := filepath.Join(t.TempDir(), "helm")
	if err := os.WriteFile(helm, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "make", append([]string{"-n", "--no-print-directory", "HELM=" + helm}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// toStrings returns v's strings when v is a YAML list.
func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// imagesScript runs hack/images.sh with a stand-in engine that logs its arguments (and its
// stdin, for login) and fails `build` when FAIL_BUILD is set; it returns the log.
func imagesScript(t *testing.T, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	engine := filepath.Join(dir, "podman")
	log := filepath.Join(dir, "log")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\n" +
		"case \"$1\" in login) echo \"stdin=$(cat)\" >> " + log + ";; build) [ -z \"$FAIL_BUILD\" ] || exit 125;; esac\n"
	if err := os.WriteFile(engine, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack/images.sh"), args...)
	cmd.Env = append(os.Environ(), append([]string{"CONTAINER_ENGINE=" + engine,
		"CONTROLLER_IMAGE=r.example/corral:v9", "RUNNER_IMAGE=r.example/runner:2.0.0", "VERSION=v9"}, env...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	logged, _ := os.ReadFile(log)
	if err != nil {
		return string(out), err
	}
	return string(logged), nil
}

// TestImagesScript: hack/images.sh builds one image per platform, or a manifest list started
// from nothing for several; pushes the list with all its images; logs in with the password on
// stdin only; and says what to do when there is no engine or a build fails (no registry).
func TestImagesScript(t *testing.T) {
	multi := []string{"PLATFORMS=linux/amd64,linux/arm64"}
	log, err := imagesScript(t, multi, "", "build", "controller", "runner")
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log)
	}
	for _, want := range []string{
		"manifest rm r.example/corral:v9",
		"build --platform linux/amd64,linux/arm64 --manifest r.example/corral:v9 -f Dockerfile --build-arg VERSION=v9 .",
		"build --platform linux/amd64,linux/arm64 --manifest r.example/runner:2.0.0 -f hack/runner-image/Containerfile hack",
	} {
		if !strings.Contains(log, want+"\n") {
			t.Errorf("multi-platform build does not run %q:\n%s", want, log)
		}
	}
	if log, err = imagesScript(t, multi, "", "push", "controller"); err != nil || !strings.Contains(log, "manifest push --all r.example/corral:v9 docker://r.example/corral:v9\n") {
		t.Errorf("multi-platform push: %v\n%s", err, log)
	}

	single := []string{"PLATFORMS=linux/amd64"}
	if log, err = imagesScript(t, single, "", "build", "controller"); err != nil || !strings.Contains(log, "build --platform linux/amd64 -t r.example/corral:v9 ") || strings.Contains(log, "manifest") {
		t.Errorf("single-platform build: %v\n%s", err, log)
	}
	if log, err = imagesScript(t, single, "", "push", "runner"); err != nil || log != "push r.example/runner:2.0.0 docker://r.example/runner:2.0.0\n" {
		t.Errorf("single-platform push: %v\n%s", err, log)
	}

	const token = "ghs_not-a-real-token"
	log, err = imagesScript(t, []string{"REGISTRY_USER=bot"}, token, "login", "ghcr.io")
	if err != nil || log != "login ghcr.io -u bot --password-stdin\nstdin="+token+"\n" {
		t.Errorf("login: %v\n%s", err, log)
	}

	out, err := imagesScript(t, append(single, "FAIL_BUILD=1"), "", "build", "runner")
	if err == nil || !strings.Contains(out, "pulls its base images") || !strings.Contains(out, "registries.conf") {
		t.Errorf("a failed build (no registry) exits %v and says:\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack/images.sh"), "build")
	cmd.Env = append(os.Environ(), "CONTAINER_ENGINE=/nonexistent/podman")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "install podman or buildah") {
		t.Errorf("no engine: exits %v and says:\n%s", err, out)
	}
	if out, err := imagesScript(t, single, "", "build", "controlller"); err == nil || !strings.Contains(out, "unknown image") {
		t.Errorf("a misspelt image: exits %v and says:\n%s", err, out)
	}
}
