//go:build node

package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

// The chart's release in this suite. Its objects are named chart-test-corral-*, apart from
// the kustomize install's corral-* that the out-of-cluster corral runs with.
const (
	chartRelease   = "chart-test"
	chartNamespace = "corral-chart"
	chartFullname  = chartRelease + "-corral"
	// upgradeField is the optional spec field the upgraded chart's RunnerPool CRD adds.
	upgradeField = "chartUpgradeProbe"
)

var crdNames = []string{"runnerpools.corral.run", "runnerclasses.corral.run"}

var _ = Describe("The Helm chart on a real node", Ordered, func() {
	var pool *corralv1.RunnerPool
	var controllerPod corev1.Pod

	BeforeAll(func(ctx SpecContext) {
		By("stopping the out-of-cluster corral: the chart's controller alone reconciles now")
		env.corral.Stop()
		DeferCleanup(func(ctx SpecContext) {
			restoreKustomizeInstall(ctx)
			Expect(env.corral.Start()).To(Succeed(), "the out-of-cluster corral restarts for the other specs")
		})
		By("letting Helm adopt the CRDs the kustomize install applied, as a user moving to Helm does")
		for _, crd := range crdNames {
			kubectl(ctx, "label", "--overwrite", "crd", crd, "app.kubernetes.io/managed-by=Helm")
			kubectl(ctx, "annotate", "--overwrite", "crd", crd,
				"meta.helm.sh/release-name="+chartRelease, "meta.helm.sh/release-namespace="+chartNamespace)
		}
		DeferCleanup(func(ctx SpecContext) { // only when a spec failed before uninstalling
			_, _ = helm(ctx, "uninstall", chartRelease, "--namespace", chartNamespace, "--wait", "--ignore-not-found")
		})
		// The node agents are the suite's own (the same templates, started with the node: a
		// second tun plugin would fight over the kubelet's registration, and the installer's
		// default images are not reachable here).
		out, err := helm(ctx, "install", chartRelease, "charts/corral", "--namespace", chartNamespace, "--create-namespace",
			"--set", "image.repository="+imageRepository(), "--set", "image.tag="+imageTag(), "--set", "image.pullPolicy=Never",
			"--set", "tunDevicePlugin.enabled=false", "--set", "seccompProfile.install=false",
			"--wait", "--timeout", "3m")
		Expect(err).NotTo(HaveOccurred(), "helm install:\n%s\n%s", out, controllerDiagnosis(ctx))
		controllerPod = onlyControllerPod(ctx)
		// Created here, so that they outlive each spec (a spec's DeferCleanup runs at its end);
		// the last spec deletes them before uninstalling.
		ns := newNamespace(ctx, "chart")
		pool = createPool(ctx, ns, "chart", gen.WithContainers(corralv1.ContainersNone), gen.WithMinIdle(2), gen.WithMaxRunners(2),
			gen.WithEnv("CORRAL_NODE_JOB", "sleep 600"))
	})

	It("runs the controller in the cluster under the chart's ServiceAccount, probes, leader election and metrics Service", func(ctx SpecContext) {
		Expect(controllerPod.Spec.NodeName).To(Equal(nodeName), "the controller runs on the real node")
		Expect(controllerPod.Spec.ServiceAccountName).To(Equal(chartFullname), "under the chart's ServiceAccount")
		Expect(controllerPod.Spec.Containers[0].Image).To(Equal(env.images["CORRAL_NODE_CONTROLLER_IMAGE"]))
		Expect(podReady(&controllerPod)).To(BeTrue(), "the kubelet's readiness probe (/readyz) passed")

		By("holding the leader election Lease")
		Eventually(func(g Gomega) {
			lease := &coordinationv1.Lease{}
			g.Expect(env.k8s.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: "corral.corral.run"}, lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
			g.Expect(*lease.Spec.HolderIdentity).To(HavePrefix(controllerPod.Name), "the controller pod leads")
		}).WithContext(ctx).Should(Succeed())

		By("serving metrics behind the metrics Service (the node has no kube-proxy: scraped at its endpoint)")
		var endpoint string
		Eventually(func(g Gomega) {
			slices := &discoveryv1.EndpointSliceList{}
			g.Expect(env.k8s.List(ctx, slices, client.InNamespace(chartNamespace),
				client.MatchingLabels{discoveryv1.LabelServiceName: chartFullname + "-metrics"})).To(Succeed())
			g.Expect(slices.Items).To(HaveLen(1))
			s := slices.Items[0]
			g.Expect(s.Endpoints).To(HaveLen(1))
			g.Expect(s.Endpoints[0].Addresses).To(ConsistOf(controllerPod.Status.PodIP), "the Service selects the controller pod")
			g.Expect(s.Ports).To(HaveLen(1))
			endpoint = fmt.Sprintf("http://%s:%d/metrics", s.Endpoints[0].Addresses[0], *s.Ports[0].Port)
		}).WithContext(ctx).Should(Succeed())
		body := httpGet(ctx, endpoint)
		Expect(body).To(ContainSubstring("controller_runtime_reconcile_total"), "controller-runtime's metrics")
		Expect(body).To(ContainSubstring("corral_"), "Corral's own metrics")
	})

	It("brings a RunnerPool to Ready with running runner pods", func(ctx SpecContext) {
		Eventually(func(g Gomega) {
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(2), "two idle runners run on the node")
			got := &corralv1.RunnerPool{}
			g.Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, corralv1.ConditionReady)).To(BeTrue(),
				"pool conditions: %+v", got.Status.Conditions)
		}).WithContext(ctx).Should(Succeed())
		for _, p := range harness.Running(runnerPods(ctx, Default, pool)) {
			_, registered := registration(ctx, p.Name)
			Expect(registered).To(BeTrue(), "runner %s is registered with the fake GitHub", p.Name)
		}
	})

	It("upgrades the RunnerPool CRD with helm upgrade, and the running runners stay", func(ctx SpecContext) {
		before := harness.PodNames(harness.Running(runnerPods(ctx, Default, pool)))
		Expect(probeUpgradeField(ctx, pool.Namespace)).To(MatchError(ContainSubstring(upgradeField)),
			"before the upgrade the CRD does not know %s", upgradeField)

		chart := chartWithExtraField(filepath.Join(env.work, "chart-upgraded"))
		out, err := helm(ctx, "upgrade", chartRelease, chart, "--namespace", chartNamespace, "--reset-then-reuse-values", "--wait", "--timeout", "3m")
		Expect(err).NotTo(HaveOccurred(), "helm upgrade:\n%s", out)
		Eventually(func() error { return probeUpgradeField(ctx, pool.Namespace) }).WithContext(ctx).Should(Succeed(),
			"after the upgrade the API server accepts %s", upgradeField)
		crd := crdMetadata()
		Expect(env.k8s.Get(ctx, client.ObjectKey{Name: crdNames[0]}, crd)).To(Succeed())
		Expect(crd.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))

		Consistently(func(g Gomega) {
			g.Expect(harness.PodNames(harness.Running(runnerPods(ctx, g, pool)))).To(Equal(before), "the upgrade replaces no runner")
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
	})

	It("uninstalls with helm uninstall and leaves nothing stuck on finalizers", func(ctx SpecContext) {
		runners := harness.PodNames(runnerPods(ctx, Default, pool))
		By("deleting the pool first, as docs/install.md says: the controller drains and deregisters it")
		Expect(env.k8s.Delete(ctx, pool)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}))
		}).WithContext(ctx).Should(BeTrue(), "the pool drains and goes away")
		for _, r := range runners {
			_, registered := registration(ctx, r)
			Expect(registered).To(BeFalse(), "runner %s is deregistered", r)
		}

		out, err := helm(ctx, "uninstall", chartRelease, "--namespace", chartNamespace, "--wait", "--timeout", "2m")
		Expect(err).NotTo(HaveOccurred(), "helm uninstall:\n%s", out)
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.ServiceAccount{}, &corev1.Service{}} {
			name := chartFullname
			if _, svc := obj.(*corev1.Service); svc {
				name += "-metrics"
			}
			err := env.k8s.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: name}, obj)
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T %s is uninstalled: %v", obj, name, err)
		}
		err = env.k8s.Get(ctx, client.ObjectKey{Name: chartFullname + "-manager"}, &rbacv1.ClusterRole{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the ClusterRole is uninstalled: %v", err)
		for _, name := range crdNames {
			Expect(env.k8s.Get(ctx, client.ObjectKey{Name: name}, crdMetadata())).To(Succeed(),
				"crds.keep leaves CRD %s", name)
		}

		By("deleting the release and tenant namespaces: nothing holds them")
		for _, name := range []string{chartNamespace, pool.Namespace} {
			Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			for _, name := range []string{chartNamespace, pool.Namespace} {
				ns := &corev1.Namespace{}
				err := env.k8s.Get(ctx, client.ObjectKey{Name: name}, ns)
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "namespace %s is gone (status %+v)", name, ns.Status)
			}
		}).WithContext(ctx).Should(Succeed())
		Expect(withCorralFinalizers(ctx)).To(BeEmpty(), "no object anywhere waits for a Corral finalizer")
	})
})

// controllerDiagnosis says why the release's controller pods are not ready: their container
// states and the end of their logs (read on the node: the API server cannot reach this
// kubelet for kubectl logs).
func controllerDiagnosis(ctx context.Context) string {
	var b strings.Builder
	pods := &corev1.PodList{}
	if err := env.k8s.List(ctx, pods, client.InNamespace(chartNamespace)); err != nil {
		return err.Error()
	}
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: phase %s\n", p.Name, p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  %s: restarts %d, state %+v, last %+v\n", c.Name, c.RestartCount, c.State, c.LastTerminationState)
		}
		logs, _ := filepath.Glob(filepath.Join(env.nodeDir, "pod-logs", chartNamespace+"_"+p.Name+"_*", "*", "*.log"))
		for _, l := range logs {
			raw, _ := os.ReadFile(l)
			lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
			fmt.Fprintf(&b, "  %s:\n    %s\n", l, strings.Join(lines[max(0, len(lines)-15):], "\n    "))
		}
	}
	return b.String()
}

// crdMetadata is an empty CustomResourceDefinition's metadata to Get (the suite's client
// scheme has no apiextensions types).
func crdMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	return m
}

// onlyControllerPod waits for the release's single controller pod to be Ready.
func onlyControllerPod(ctx context.Context) corev1.Pod {
	var pod corev1.Pod
	Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(env.k8s.List(ctx, pods, client.InNamespace(chartNamespace),
			client.MatchingLabels{"app.kubernetes.io/component": "controller"})).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(1))
		g.Expect(podReady(&pods.Items[0])).To(BeTrue())
		pod = pods.Items[0]
	}).WithContext(ctx).Should(Succeed())
	return pod
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// probeUpgradeField creates, as a server-side dry run with strict field validation, a pool
// with the upgraded CRD's extra field: an error names the field while the CRD lacks it.
func probeUpgradeField(ctx context.Context, ns string) error {
	pool := env.fake.Pool(ns, "upgrade-probe", gen.WithImage(env.images["CORRAL_NODE_RUNNER_IMAGE"]))
	raw, err := yaml.Marshal(pool)
	if err != nil {
		return err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return err
	}
	obj["spec"].(map[string]any)[upgradeField] = "set"
	if raw, err = yaml.Marshal(obj); err != nil {
		return err
	}
	file := filepath.Join(env.work, "upgrade-probe.yaml")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		return err
	}
	_, err = env.cluster.Kubectl(ctx, "create", "--dry-run=server", "--validate=strict", "-f", file)
	return err
}

// chartWithExtraField copies charts/corral to dir with one optional string field added to
// the RunnerPool CRD's spec, as the next release of the chart might, and returns dir.
func chartWithExtraField(dir string) string {
	src := filepath.Join(harness.RepoRoot(), "charts", "corral")
	Expect(os.CopyFS(dir, os.DirFS(src))).To(Succeed())
	file := filepath.Join(dir, "files", "crds", "corral.run_runnerpools.yaml")
	raw, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	crd := &apiextensionsv1.CustomResourceDefinition{}
	Expect(yaml.Unmarshal(raw, crd)).To(Succeed())
	for i := range crd.Spec.Versions {
		spec := crd.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Properties[upgradeField] = apiextensionsv1.JSONSchemaProps{Type: "string", Description: "added by the upgrade test"}
		crd.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	}
	raw, err = yaml.Marshal(crd)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(file, raw, 0o644)).To(Succeed())
	return dir
}

// restoreKustomizeInstall puts back what the chart spec changed of the kustomize install the
// other specs run with: the CRDs as config/default has them (without the upgrade's field).
func restoreKustomizeInstall(ctx context.Context) {
	patch := fmt.Sprintf(`[{"op":"remove","path":"/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/%s"}]`, upgradeField)
	_, _ = env.cluster.Kubectl(ctx, "patch", "crd", crdNames[0], "--type=json", "-p", patch)
	kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-k", filepath.Join(harness.RepoRoot(), "hack", "cluster", "install"))
}

// withCorralFinalizers lists the pools, pods and Secrets in any namespace that still carry
// one of Corral's finalizers.
func withCorralFinalizers(ctx context.Context) []string {
	var out []string
	lists := []client.ObjectList{&corralv1.RunnerPoolList{}, &corev1.PodList{}, &corev1.SecretList{}}
	for _, list := range lists {
		Expect(env.k8s.List(ctx, list)).To(Succeed())
		items, err := meta.ExtractList(list)
		Expect(err).NotTo(HaveOccurred())
		for _, item := range items {
			obj := item.(client.Object)
			for _, f := range obj.GetFinalizers() {
				if f == corralv1.FinalizerPool || f == corralv1.FinalizerRunner {
					out = append(out, fmt.Sprintf("%T %s/%s (%s)", obj, obj.GetNamespace(), obj.GetName(), f))
				}
			}
		}
	}
	return out
}

func helm(ctx context.Context, args ...string) (string, error) {
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join(harness.RepoRoot(), "bin", "helm-v3.22.0")
	}
	return harness.Run(ctx, harness.RepoRoot(), bin, append(args, "--kubeconfig", env.cluster.Kubeconfig)...)
}

func kubectl(ctx context.Context, args ...string) {
	out, err := env.cluster.Kubectl(ctx, args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %s:\n%s", strings.Join(args, " "), out)
}

func httpGet(ctx context.Context, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred(), "GET %s", url)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "GET %s: %s", url, body)
	return string(body)
}

func imageRepository() string {
	repo, _, _ := strings.Cut(env.images["CORRAL_NODE_CONTROLLER_IMAGE"], ":")
	return repo
}

func imageTag() string {
	_, tag, _ := strings.Cut(env.images["CORRAL_NODE_CONTROLLER_IMAGE"], ":")
	return tag
}
