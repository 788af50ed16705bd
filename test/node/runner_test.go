//go:build node

package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

// noneJob probes what a job may do in a None-mode runner: each line of its output says.
const noneJob = `
echo "uid: $(id -u)"
if touch /corral-probe 2>/dev/null; then echo "rootfs: writable"; else echo "rootfs: read-only"; fi
if unshare --user --map-root-user true 2>/dev/null; then echo "userns: allowed"; else echo "userns: refused"; fi
img=$(podman load -q -i /usr/share/corral-sandbox/bb.tar 2>/dev/null | sed -n 's/^Loaded image: //p')
if [ -n "$img" ] && podman run --rm --network=none "$img" true 2>/dev/null; then echo "nested: ran"; else echo "nested: refused"; fi
`

var _ = Describe("Runner pods on a real node", func() {
	It("runs a None-mode runner read-only and without nested containers, and replaces it once its job completed", func(ctx SpecContext) {
		ns := newNamespace(ctx, "none")
		pool := createPool(ctx, ns, "none", gen.WithContainers(corralv1.ContainersNone), gen.WithMinIdle(1), gen.WithMaxRunners(1),
			gen.WithEnv("CORRAL_NODE_JOB", noneJob), gen.WithEnv("CORRAL_NODE_REPORT", env.reports.url(env.gateway)))
		first := firstPod(ctx, pool)
		Expect(first.Spec.NodeName).To(Equal(nodeName), "the runner pod runs on the real node")

		By("running the job with the JIT config the pod's Secret holds")
		rep := reportOf(ctx, first.Name)
		Expect(rep.ExitCode).To(Equal(0), "job output:\n%s", rep.Output)
		Expect(strconv.FormatInt(rep.RunnerID, 10)).To(Equal(first.Annotations[corralv1.AnnotationRunnerID]), "the JIT config registers the runner the pod is annotated with")
		Expect(rep.Output).To(ContainSubstring("uid: 1000"))
		Expect(rep.Output).To(ContainSubstring("rootfs: read-only"))
		Expect(rep.Output).To(ContainSubstring("userns: refused"))
		Expect(rep.Output).To(ContainSubstring("nested: refused"))

		By("replacing the completed runner with a new one and removing its pod and JIT Secret")
		Eventually(func(g Gomega) {
			pods := runnerPods(ctx, g, pool)
			g.Expect(harness.PodNames(pods)).NotTo(ContainElement(first.Name), "the completed pod is removed")
			g.Expect(pods).NotTo(BeEmpty(), "a new runner replaces it")
			err := env.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(first.Name)}, &corev1.Secret{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the JIT Secret of the completed runner is gone: %v", err)
		}).WithContext(ctx).Should(Succeed())
		// GitHub removes an ephemeral runner after its job; the fake assigned none here, so
		// the sweep finds the registration without a pod and removes it (orphan grace 5 s).
		Eventually(func() bool {
			_, registered := registration(ctx, first.Name)
			return registered
		}).WithContext(ctx).Should(BeFalse(), "no registration outlives its completed runner")
	})

	It("deregisters a runner whose pod is deleted by hand, and its JIT Secret goes with the pod", func(ctx SpecContext) {
		ns := newNamespace(ctx, "deleted")
		pool := createPool(ctx, ns, "deleted", gen.WithContainers(corralv1.ContainersNone), gen.WithMinIdle(1), gen.WithMaxRunners(1),
			gen.WithEnv("CORRAL_NODE_JOB", "sleep 600"))
		var pod corev1.Pod
		Eventually(func(g Gomega) {
			pods := runnerPods(ctx, g, pool)
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].Status.Phase).To(Equal(corev1.PodRunning))
			pod = pods[0]
		}).WithContext(ctx).Should(Succeed())
		_, registered := registration(ctx, pod.Name)
		Expect(registered).To(BeTrue(), "the running runner is registered")

		Expect(env.k8s.Delete(ctx, &pod)).To(Succeed())
		Eventually(func(g Gomega) {
			_, registered := registration(ctx, pod.Name)
			g.Expect(registered).To(BeFalse(), "the deleted runner is deregistered")
			err := env.k8s.Get(ctx, client.ObjectKeyFromObject(&pod), &corev1.Pod{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the pod is gone once deregistered: %v", err)
			err = env.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: runner.JITSecretName(pod.Name)}, &corev1.Secret{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "its JIT Secret is collected with it: %v", err)
			g.Expect(harness.Running(runnerPods(ctx, g, pool))).To(HaveLen(1), "a new runner takes its place")
		}).WithContext(ctx).Should(Succeed())
	})
})

// newNamespace creates a namespace for one spec with the fake GitHub's credentials Secret and
// CA ConfigMap; it is deleted when the spec ends.
func newNamespace(ctx context.Context, prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "node-" + prefix + "-"}}
	Expect(env.k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, ns))).To(Succeed())
	})
	Expect(env.fake.ApplyCredentials(ctx, env.cluster, ns.Name)).To(Succeed())
	return ns.Name
}

// createPool creates a RunnerPool of the fake GitHub running the node's runner image; when
// the spec ends it is deleted and the suite waits until it drained.
func createPool(ctx context.Context, ns, name string, mods ...gen.PoolModifier) *corralv1.RunnerPool {
	pool := env.fake.Pool(ns, name, append([]gen.PoolModifier{gen.WithImage(env.images["CORRAL_NODE_RUNNER_IMAGE"])}, mods...)...)
	Expect(env.k8s.Create(ctx, pool)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, pool))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}))
		}).WithContext(ctx).Should(BeTrue(), "pool %s/%s must drain and go away", ns, name)
	})
	return pool
}

// runnerPods lists the pool's runner pods, by name.
func runnerPods(ctx context.Context, g Gomega, pool *corralv1.RunnerPool) []corev1.Pod {
	pods, err := harness.RunnerPods(ctx, env.k8s, pool)
	g.Expect(err).NotTo(HaveOccurred())
	return pods
}

// firstPod waits for the pool's first runner pod and returns it.
func firstPod(ctx context.Context, pool *corralv1.RunnerPool) corev1.Pod {
	var first corev1.Pod
	Eventually(func(g Gomega) {
		pods := runnerPods(ctx, g, pool)
		g.Expect(pods).NotTo(BeEmpty(), "no runner pod yet; the pool's conditions: %s", poolConditions(ctx, pool))
		first = pods[0]
	}).WithContext(ctx).Should(Succeed())
	return first
}

// poolConditions are the pool's current conditions, one per line, for failure messages.
func poolConditions(ctx context.Context, pool *corralv1.RunnerPool) string {
	var p corralv1.RunnerPool
	if err := env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), &p); err != nil {
		return err.Error()
	}
	var out []string
	for _, c := range p.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(out, "\n")
}

// reportOf waits for the stand-in runner's report of runner.
func reportOf(ctx context.Context, name string) report {
	var rep report
	Eventually(func() bool {
		var ok bool
		rep, ok = env.reports.reportOf(name)
		return ok
	}).WithContext(ctx).Should(BeTrue(), "runner %s reports its job", name)
	return rep
}

// registration says whether the fake GitHub has a runner registered under name.
func registration(ctx context.Context, name string) (int64, bool) {
	all, err := env.fake.Client.Runners(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, r := range all {
		if r.Name == name {
			return r.ID, true
		}
	}
	return 0, false
}

// reportOfOrPodFailure waits for the stand-in runner's report of runner, or for the runtime to
// refuse its pod (Corral soon removes a pod that failed to start, so the kubelet's events
// say why): then the report holds their messages, exit code -1.
func reportOfOrPodFailure(ctx context.Context, pool *corralv1.RunnerPool, name string) report {
	var rep report
	Eventually(func() bool {
		var ok bool
		if rep, ok = env.reports.reportOf(name); ok {
			return true
		}
		if why := startFailure(ctx, pool.Namespace, name); why != "" {
			rep = report{Runner: name, ExitCode: -1, Output: "pod did not start: " + why}
			return true
		}
		return false
	}).WithContext(ctx).Should(BeTrue(), "runner %s reports its job or fails to start", name)
	return rep
}

// startFailure is the kubelet's account of a pod the runtime refused: a container that
// failed to start (event Failed), or a sandbox refused three times (the kubelet retries);
// empty while neither happened.
func startFailure(ctx context.Context, ns, pod string) string {
	events := &corev1.EventList{}
	if err := env.k8s.List(ctx, events, client.InNamespace(ns)); err != nil {
		return ""
	}
	sandbox, last := 0, ""
	for _, ev := range events.Items {
		if ev.InvolvedObject.Name != pod {
			continue
		}
		switch ev.Reason {
		case "Failed":
			if strings.HasPrefix(ev.Message, "Error:") {
				return ev.Message
			}
		case "FailedCreatePodSandBox":
			sandbox += int(max(ev.Count, 1))
			last = ev.Message
		}
	}
	if sandbox >= 3 {
		return "sandbox: " + last
	}
	return ""
}
