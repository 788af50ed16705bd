package install

import (
	"bytes"
	"fmt"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// TestChartStableForGitOps: what Argo CD (or Flux) applies must equal what it reads back, or
// the application stays OutOfSync forever. For every value set: the rendering is
// deterministic, carries no status or creationTimestamp, writes quantities in the form the
// API server stores, names a namespace on every namespaced object and uses only fields the
// types have.
func TestChartStableForGitOps(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	clusterScoped := map[string]bool{"CustomResourceDefinition": true, "ClusterRole": true,
		"ClusterRoleBinding": true, "PriorityClass": true, "Namespace": true,
		"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true}
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			first, err := helmTemplate(t, vs.values)
			if err != nil {
				t.Fatal(err)
			}
			second, err := helmTemplate(t, vs.values)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, second) {
				t.Error("two renderings differ: a template uses randomness or time")
			}
			for _, obj := range decodeObjects(t, first) {
				name := obj.GetKind() + "/" + obj.GetName()
				if _, ok := obj.Object["status"]; ok {
					t.Errorf("%s carries a status", name)
				}
				if _, ok := obj.Object["metadata"].(map[string]any)["creationTimestamp"]; ok {
					t.Errorf("%s carries metadata.creationTimestamp", name)
				}
				if !clusterScoped[obj.GetKind()] && obj.GetNamespace() == "" {
					t.Errorf("%s has no namespace", name)
				}
				var qs []quantity
				if obj.GetKind() != "CustomResourceDefinition" { // its schema has "limits" too
					qs = quantities(obj.Object, "")
				}
				for _, q := range qs {
					parsed, err := resource.ParseQuantity(q.value)
					if err != nil {
						t.Errorf("%s %s: %v", name, q.path, err)
					} else if parsed.String() != q.value {
						t.Errorf("%s %s: %q is stored as %q", name, q.path, q.value, parsed.String())
					}
				}
				gvk := obj.GroupVersionKind()
				if !scheme.Recognizes(gvk) {
					continue // e.g. ServiceMonitor
				}
				typed, err := scheme.New(gvk)
				if err != nil {
					t.Fatal(err)
				}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, typed, true); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

// quantity is a resource quantity found in an object.
type quantity struct{ path, value string }

// quantities returns the string values under every "requests" and "limits" map, and every
// "sizeLimit", in v.
func quantities(v any, path string) []quantity {
	var out []quantity
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			p := path + "." + k
			switch k {
			case "requests", "limits":
				if m, ok := child.(map[string]any); ok {
					for r, q := range m {
						out = append(out, quantity{p + "." + r, fmt.Sprint(q)})
					}
					continue
				}
			case "sizeLimit":
				out = append(out, quantity{p, fmt.Sprint(child)})
				continue
			}
			out = append(out, quantities(child, p)...)
		}
	case []any:
		for i, child := range v {
			out = append(out, quantities(child, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}
