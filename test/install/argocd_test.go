package install

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

var update = flag.Bool("update", false, "rewrite generated files (config/argocd/argocd-cm.yaml, docs/configuration.md)")

const (
	healthScript = "config/argocd/health.lua"
	argocdCM     = "config/argocd/argocd-cm.yaml"
	// argocdHealthKey is the argocd-cm key of a custom health check for group corral.run,
	// kind RunnerPool.
	argocdHealthKey = "resource.customizations.health.corral.run_RunnerPool"
)

// health is what an Argo CD health script returns.
type health struct {
	Status  string
	Message string
}

// runHealth runs the health script the way Argo CD runs a custom check from argocd-cm:
// gopher-lua without the standard libraries except package, base and table, the object as
// the global obj (numbers as Lua numbers), a one-second limit, a table result.
func runHealth(t *testing.T, obj map[string]any) health {
	t.Helper()
	script := string(readRepoFile(t, healthScript))
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{lua.LoadLibName: lua.OpenPackage, lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	tbl, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, want a table", L.Get(-1).Type())
	}
	h := health{Status: lua.LVAsString(tbl.RawGetString("status")), Message: lua.LVAsString(tbl.RawGetString("message"))}
	if !slices.Contains([]string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}, h.Status) {
		t.Fatalf("health.lua returned status %q, not an Argo CD health status", h.Status)
	}
	return h
}

// toLua converts a decoded object to Lua values as Argo CD does.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		tbl := L.CreateTable(len(v), 0)
		for _, item := range v {
			tbl.Append(toLua(L, item))
		}
		return tbl
	case map[string]any:
		tbl := L.CreateTable(0, len(v))
		for k, item := range v {
			tbl.RawSetString(k, toLua(L, item))
		}
		return tbl
	}
	return lua.LNil
}

// poolObject returns pool as the unstructured map Argo CD hands the script.
func poolObject(t *testing.T, pool *corralv1.RunnerPool) map[string]any {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pool)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// withStatus returns a generation-2 pool with the given observed generation and conditions
// (each condition observed at its own generation; 0 means the pool's).
func withStatus(observed int64, conds ...metav1.Condition) *corralv1.RunnerPool {
	p := gen.RunnerPool("p")
	p.Generation = 2
	p.Status.ObservedGeneration = observed
	for _, c := range conds {
		if c.ObservedGeneration == 0 {
			c.ObservedGeneration = 2
		}
		c.LastTransitionTime = metav1.Now()
		p.Status.Conditions = append(p.Status.Conditions, c)
	}
	return p
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
}

func TestArgoCDHealth(t *testing.T) {
	ready := cond(corralv1.ConditionReady, metav1.ConditionTrue, corralv1.ReasonReconciled, "2 idle, 1 busy")
	tests := []struct {
		name    string
		pool    *corralv1.RunnerPool
		want    string
		message string // substring
	}{
		{"no status yet", gen.RunnerPool("p"), "Progressing", "Waiting"},
		{"ready", withStatus(2, ready), "Healthy", "2 idle"},
		{"scaling", withStatus(2, cond(corralv1.ConditionReady, metav1.ConditionFalse, corralv1.ReasonScaling, "creating 2 runners")), "Progressing", "creating 2 runners"},
		{"new spec not reconciled", withStatus(1, ready), "Progressing", "generation 2"},
		{"stalled", withStatus(2, cond(corralv1.ConditionReady, metav1.ConditionFalse, corralv1.ReasonCredentialsInvalid, ""),
			cond(corralv1.ConditionStalled, metav1.ConditionTrue, corralv1.ReasonCredentialsInvalid, `Secret ci/github-app: key "app-id" is missing`)),
			"Degraded", `CredentialsInvalid: Secret ci/github-app`},
		{"stalled for an older spec", withStatus(1, metav1.Condition{Type: corralv1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: corralv1.ReasonRunnerVersionDeprecated, ObservedGeneration: 1}), "Progressing", "generation 2"},
		{"rate limited", withStatus(2, cond(corralv1.ConditionScalingBlocked, metav1.ConditionTrue, corralv1.ReasonRateLimited, "resets at 12:00")),
			"Progressing", "RateLimited"},
		{"permission denied", withStatus(2, cond(corralv1.ConditionScalingBlocked, metav1.ConditionTrue, corralv1.ReasonPermissionDenied, "needs organization_self_hosted_runners=write")),
			"Degraded", "organization_self_hosted_runners"},
		{"blocked condition false", withStatus(2, ready, cond(corralv1.ConditionScalingBlocked, metav1.ConditionFalse, corralv1.ReasonReconciled, "")),
			"Healthy", ""},
		{"paused", withStatus(2, cond(corralv1.ConditionReady, metav1.ConditionTrue, corralv1.ReasonPaused, "maxRunners is 0")), "Suspended", "Paused"},
		{"deleting", withStatus(2, cond(corralv1.ConditionReady, metav1.ConditionFalse, corralv1.ReasonDeleting, "draining 3 runners")), "Progressing", "draining"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runHealth(t, poolObject(t, tt.pool))
			if got.Status != tt.want || !strings.Contains(got.Message, tt.message) {
				t.Errorf("got %+v, want status %s with message containing %q", got, tt.want, tt.message)
			}
		})
	}
}

// TestArgoCDHealthEveryReason: every reason in api/v1alpha1 maps to a sensible status, and
// the script's list of reasons that need a user names only real ones.
func TestArgoCDHealthEveryReason(t *testing.T) {
	reasons := conditionReasons(t)
	for _, r := range reasons {
		stalled := runHealth(t, poolObject(t, withStatus(2, cond(corralv1.ConditionStalled, metav1.ConditionTrue, r, "x"))))
		if stalled.Status != "Degraded" {
			t.Errorf("Stalled/%s: %s, want Degraded", r, stalled.Status)
		}
		blocked := runHealth(t, poolObject(t, withStatus(2, cond(corralv1.ConditionScalingBlocked, metav1.ConditionTrue, r, "x"))))
		if blocked.Status != "Degraded" && blocked.Status != "Progressing" {
			t.Errorf("ScalingBlocked/%s: %s, want Degraded or Progressing", r, blocked.Status)
		}
	}
	listed := regexp.MustCompile(`(?m)^\s+([A-Za-z]+) = true,$`).FindAllStringSubmatch(string(readRepoFile(t, healthScript)), -1)
	if len(listed) == 0 {
		t.Fatal("found no reasons in health.lua's needsUser table")
	}
	for _, m := range listed {
		if !slices.Contains(reasons, m[1]) {
			t.Errorf("health.lua names reason %q, which api/v1alpha1 does not define", m[1])
		}
	}
}

// TestArgoCDConfigMap: config/argocd/argocd-cm.yaml carries health.lua verbatim under the
// key Argo CD looks up. Regenerate with `go test ./test/install -run ArgoCDConfigMap -update`.
func TestArgoCDConfigMap(t *testing.T) {
	script := string(readRepoFile(t, healthScript))
	want := argocdConfigMap(t, script)
	path := filepath.Join(repoRoot(t), argocdCM)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := readRepoFile(t, argocdCM); string(got) != string(want) {
		t.Errorf("%s is stale: run go test ./test/install -run ArgoCDConfigMap -update", argocdCM)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(want, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data[argocdHealthKey] != script {
		t.Errorf("data[%s] is not health.lua", argocdHealthKey)
	}
}

// argocdConfigMap renders the argocd-cm patch holding script.
func argocdConfigMap(t *testing.T, script string) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("# Code generated by `go test ./test/install -run ArgoCDConfigMap -update` from health.lua; DO NOT EDIT.\n")
	b.WriteString("# Argo CD health check for RunnerPools: merge into argocd-cm (docs/argocd.md), e.g.\n")
	b.WriteString("#   kubectl -n argocd patch configmap argocd-cm --patch-file config/argocd/argocd-cm.yaml\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n  labels:\n")
	b.WriteString("    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\ndata:\n")
	b.WriteString("  " + argocdHealthKey + ": |\n")
	for _, line := range strings.SplitAfter(script, "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString(strings.TrimLeft(line, " \t"))
			continue
		}
		b.WriteString("    " + line)
	}
	return []byte(b.String())
}
