package install

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// helpFlag matches a flag line of Go's flag package usage: "  -name value" or "  -name".
var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`)

// binaryFlags builds cmd/corral and returns the flags its -help lists.
func binaryFlags(t *testing.T) map[string]bool {
	t.Helper()
	return commandFlags(t, nil, "metrics-bind-address", "health-probe-bind-address", "leader-elect", "zap-log-level")
}

// commandFlags builds cmd/corral and returns the flags `corral ARGS... -help` lists, which
// must include every one of must.
func commandFlags(t *testing.T, args []string, must ...string) map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "corral")
	if _, err := run(t, "go", "build", "-o", bin, "./cmd/corral"); err != nil {
		t.Fatal(err)
	}
	// -help prints the usage to stderr and exits 0 (flag.ExitOnError).
	out, err := exec.Command(bin, append(args, "-help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("corral %v -help: %v\n%s", args, err, out)
	}
	flags := map[string]bool{}
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	for _, m := range must {
		if !flags[m] {
			t.Fatalf("corral %v -help does not list -%s; parsed %v from:\n%s", args, m, flags, out)
		}
	}
	return flags
}

// containerFlags returns the flag names in a container's args ("--name=value" or "--name").
func containerFlags(t *testing.T, args []string) []string {
	t.Helper()
	var names []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			t.Errorf("argument %q is not a --flag", a)
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		names = append(names, name)
	}
	return names
}

// TestFlagsExist: every flag the chart (in every value set) and the kustomize Deployments
// pass is one cmd/corral defines, so neither the controller nor the webhook receiver ever
// exits on an unknown flag.
func TestFlagsExist(t *testing.T) {
	requireInstallTests(t)
	flags := binaryFlags(t)
	check := func(t *testing.T, dep *appsv1.Deployment) {
		t.Helper()
		for _, name := range containerFlags(t, dep.Spec.Template.Spec.Containers[0].Args) {
			if !flags[name] {
				t.Errorf("--%s is not a flag of cmd/corral", name)
			}
		}
	}
	for _, vs := range valueSets() {
		t.Run("chart/"+vs.name, func(t *testing.T) {
			objs := renderChart(t, vs.values)
			check(t, decode[appsv1.Deployment](t, objs.mustGet(t, "Deployment", "corral")))
			if obj := objs.get("Deployment", "corral-webhook"); obj != nil {
				check(t, decode[appsv1.Deployment](t, obj))
			}
		})
	}
	t.Run("kustomize", func(t *testing.T) {
		check(t, decode[appsv1.Deployment](t, renderKustomize(t, "config/default").mustGet(t, "Deployment", "corral")))
		check(t, decode[appsv1.Deployment](t, renderKustomize(t, "config/with-webhook").mustGet(t, "Deployment", "corral-webhook")))
	})
}
