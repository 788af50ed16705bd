package install

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/internal/runnerclass"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/testenv"
)

// sample is one sample file: a RunnerPool or a RunnerClass.
type sample struct {
	file  string
	pool  *corralv1.RunnerPool
	class *corralv1.RunnerClass
}

// loadSamples decodes every sample strictly into its Go type.
func loadSamples(t *testing.T) []sample {
	t.Helper()
	var out []sample
	for _, name := range sampleFiles(t) {
		raw := readRepoFile(t, filepath.Join("config/samples", name))
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if meta.APIVersion != corralv1.GroupVersion.String() {
			t.Fatalf("%s is a %s %s", name, meta.APIVersion, meta.Kind)
		}
		s := sample{file: name}
		var obj any
		switch meta.Kind {
		case "RunnerPool":
			s.pool = &corralv1.RunnerPool{}
			obj = s.pool
		case "RunnerClass":
			s.class = &corralv1.RunnerClass{}
			obj = s.class
		default:
			t.Fatalf("%s is a %s: samples are RunnerPools and RunnerClasses", name, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			t.Fatalf("%s: decoding: %v", name, err)
		}
		out = append(out, s)
	}
	return out
}

// TestSamplesValid creates every sample on a real API server with the CRDs and the
// admission policy: each decodes strictly into its Go type and passes the CRD's schema and
// CEL rules, a pool of a sample class passes the policy in a namespace the class serves,
// and the controller's own checks (the class's guardrails, defaults included, and the
// hardening policy over the pod it would build) refuse none of the pools.
func TestSamplesValid(t *testing.T) {
	requireInstallTests(t)
	samples := loadSamples(t)
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime; nothing to show
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	ctx := context.Background()
	for _, obj := range decodeObjects(t, readRepoFile(t, "config/admission/runnerclass-policy.yaml")) {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	classes := map[string]*corralv1.RunnerClass{}
	nsLabels := map[string]string{}
	for _, s := range samples {
		if s.class == nil {
			continue
		}
		t.Run(s.file, func(t *testing.T) {
			if s.class.Namespace != "" {
				t.Errorf("a RunnerClass is cluster-scoped; the sample sets namespace %q", s.class.Namespace)
			}
			if err := env.Client.Create(ctx, s.class); err != nil {
				t.Fatalf("the API server rejected it: %v", err)
			}
			got := &corralv1.RunnerClass{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(s.class), got); err != nil {
				t.Fatal(err)
			}
			classes[got.Name] = got
			maps.Copy(nsLabels, got.Spec.NamespaceSelector.MatchLabels)
		})
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "samples", Labels: nsLabels}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for name := range classes {
		waitFor(t, "the admission policy", func() error {
			probe := gen.RunnerPool("probe", gen.WithNamespace(ns.Name), gen.WithClass(name), gen.WithURL("https://evil.example/acme"))
			probe.UID, probe.Generation = "", 0
			if env.Client.Create(ctx, probe, client.DryRunAll) == nil {
				return errString("the policy does not refuse a pool of class " + name + " yet")
			}
			return nil
		})
	}
	for _, s := range samples {
		if s.pool == nil {
			continue
		}
		t.Run(s.file, func(t *testing.T) {
			pool := s.pool
			if pool.Namespace != "" {
				t.Errorf("sample sets namespace %q; samples are applied with -n", pool.Namespace)
			}
			pool.Namespace = ns.Name
			if err := env.Client.Create(ctx, pool); err != nil {
				t.Fatalf("the API server rejected it: %v", err)
			}
			got := &corralv1.RunnerPool{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pool), got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.GitHub.URL == "" || got.Spec.MaxRunners == 0 || got.Spec.Template.Image == "" {
				t.Errorf("stored pool lacks url, maxRunners or the defaulted image: %+v", got.Spec)
			}
			var class *corralv1.RunnerClass
			if ref := got.Spec.ClassRef; ref != nil {
				if class = classes[ref.Name]; class == nil {
					t.Fatalf("names RunnerClass %s, which no sample defines", ref.Name)
				}
			}
			for _, v := range controllerRefusals(got, class) {
				t.Errorf("the controller would refuse it: %s", v)
			}
		})
	}
}

// controllerRefusals are what the controller checks before it creates a runner of pool
// (as internal/controller's classRefusal and policyRefusal do): the class's rules on the
// spec, then the pod built from the effective pool against the class and against Corral's
// hardening policy.
func controllerRefusals(pool *corralv1.RunnerPool, class *corralv1.RunnerClass) []string {
	var out []string
	effective := pool
	if class != nil {
		for _, v := range runnerclass.CheckPool(pool, class) {
			out = append(out, v.String())
		}
		effective = runnerclass.Effective(pool, class)
	}
	pod := runner.BuildPod(effective, effective.Name+"-000000-check", runner.JITSecretName(effective.Name+"-000000-check"))
	if class != nil {
		for _, v := range runnerclass.CheckPod(pod, class) {
			out = append(out, v.String())
		}
	}
	for _, v := range runner.Violations(effective, pod) {
		out = append(out, v.Reason+": "+v.Message)
	}
	return out
}

// TestSamplesListed: the samples kustomization lists every sample file, and only those.
func TestSamplesListed(t *testing.T) {
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "config/samples/kustomization.yaml"), &k); err != nil {
		t.Fatal(err)
	}
	files := sampleFiles(t)
	slices.Sort(k.Resources)
	if !slices.Equal(k.Resources, files) {
		t.Errorf("kustomization lists %v, directory has %v", k.Resources, files)
	}
	want := []string{"org.yaml", "repo.yaml", "enterprise-pat.yaml", "arm64.yaml", "private-endpoints.yaml", "scale-to-zero.yaml",
		"runnerclass.yaml", "class-pool.yaml"}
	for _, w := range want {
		if !slices.Contains(files, w) {
			t.Errorf("missing sample %s", w)
		}
	}
}

// sampleFiles lists the sample manifests (every YAML file but the kustomization), sorted.
func sampleFiles(t *testing.T) []string {
	t.Helper()
	files := slices.DeleteFunc(yamlFiles(t, filepath.Join(repoRoot(t), "config/samples")), func(n string) bool {
		return n == "kustomization.yaml"
	})
	slices.Sort(files)
	return files
}
