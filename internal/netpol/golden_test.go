package netpol

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenPools are representative pools whose policies are pinned in testdata/.
func goldenPools() map[string]*corralv1.RunnerPool {
	return map[string]*corralv1.RunnerPool{
		"internet": gen.RunnerPool("builders", gen.WithNamespace("ci")),
		"internet-allow": gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithAllowCIDR("10.20.0.0/24", 443, 8443),
			gen.WithAllowPods(map[string]string{"app": "ghes"}, map[string]string{"team": "git"}, 443, 22)),
		"none-proxy": gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithEgress(corralv1.EgressNone),
			gen.WithAllowCIDR("10.0.0.5/32", 3128),
			gen.WithDNS(corralv1.DNSSpec{Namespace: "kube-system", CIDR: ptr.To("169.254.20.10/32")})),
		"unrestricted": gen.RunnerPool("builders", gen.WithNamespace("ci"), gen.WithEgress(corralv1.EgressUnrestricted)),
		"openshift-dns": gen.RunnerPool("builders", gen.WithNamespace("ci"),
			gen.WithDNS(corralv1.DNSSpec{Namespace: "openshift-dns", PodSelector: map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"}, Ports: []int32{5353}})),
	}
}

func TestGoldenPolicies(t *testing.T) {
	for name, pool := range goldenPools() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			for _, p := range Build(pool) {
				out, err := yaml.Marshal(p)
				if err != nil {
					t.Fatalf("marshalling %s: %v", p.Name, err)
				}
				buf.WriteString("---\n")
				buf.Write(out)
			}
			path := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatalf("writing %s: %v", path, err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading %s (run go test -update to create it): %v", path, err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s differs (-want +got); run go test -update if the change is intended:\n%s", path, diff)
			}
		})
	}
}
