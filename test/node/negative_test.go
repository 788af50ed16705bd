//go:build node

package node

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/internal/runner"
	"github.com/corral-run/corral/test/gen"
)

// The sandbox proof's negative cases (docs/sandbox.md), on the real node: the pod Corral
// builds, with one podman-relevant setting flipped, must break exactly where the harness
// says. The pods are created by hand (the API refuses such pools), owned by no pool.
var _ = Describe("The built runner pod with one setting flipped, on a real node", func() {
	cases := []struct {
		name       string
		networking corralv1.NestedNetworking
		flip       func(*corev1.Pod) bool // false: the builder changed, the flip no longer applies
		fails      string                 // the podmanJob step that must fail
		because    string                 // and its output
	}{
		{"Host networking under RuntimeDefault seccomp", corralv1.NestedNetworkingHost, func(p *corev1.Pod) bool {
			c := runnerContainer(p)
			c.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			return true
		}, "podman run", "Operation not permitted"},
		{"Isolated networking without /dev/net/tun (no corral.run/tun requested)", corralv1.NestedNetworkingIsolated, func(p *corev1.Pod) bool {
			c := runnerContainer(p)
			_, requested := c.Resources.Limits[runner.TunResource]
			delete(c.Resources.Limits, runner.TunResource)
			delete(c.Resources.Requests, runner.TunResource)
			return requested
		}, "podman run", "/dev/net/tun"},
		{"Host networking without the /proc bind in containers.conf", corralv1.NestedNetworkingHost, func(p *corev1.Pod) bool {
			init := &p.Spec.InitContainers[0]
			script := init.Command[len(init.Command)-1]
			flipped := strings.Replace(script, `volumes = ["/proc:/proc", "/sys:/sys"]`, `volumes = ["/sys:/sys"]`, 1)
			init.Command[len(init.Command)-1] = flipped
			return flipped != script
		}, "podman run", `mounting "proc"`},
	}
	for i, tc := range cases {
		It("breaks: "+tc.name, func(ctx SpecContext) {
			ns := newNamespace(ctx, fmt.Sprintf("flip%d", i))
			name := fmt.Sprintf("flip%d-runner", i)
			pod := builtPod(ctx, ns, name, nil, gen.WithContainers(corralv1.ContainersPodman), gen.WithNetworking(tc.networking))
			Expect(tc.flip(pod)).To(BeTrue(), "the flip no longer applies to the pod the builder makes: update this case")
			rep := runHandMade(ctx, pod)
			AddReportEntry(tc.name, rep.Output)
			Expect(steps(rep.Output)).To(HaveKeyWithValue(tc.fails, And(HavePrefix("failed"), ContainSubstring(tc.because))),
				"%s must break %q; job output:\n%s", tc.name, tc.fails, rep.Output)
		})
	}
})

// builtPod is the runner pod Corral builds for a pool with mods (defaulted by the API: it is
// created paused, so Corral runs none of its runners), made nobody's runner: no owner, no
// finalizer, no pool label. Its job is podmanJob, reported to the collector.
// then, when set, changes the stored pool in memory before the pod is built (for settings the
// API refuses).
func builtPod(ctx context.Context, ns, name string, then func(*corralv1.RunnerPool), mods ...gen.PoolModifier) *corev1.Pod {
	mods = append([]gen.PoolModifier{withImage("CORRAL_NODE_RUNNER_IMAGE"),
		gen.WithEnv("CORRAL_NODE_JOB", podmanJob), gen.WithEnv("CORRAL_NODE_REPORT", env.reports.url(env.gateway))},
		append(mods, gen.WithMinIdle(0), gen.WithMaxRunners(0))...)
	pool := env.fake.Pool(ns, "paused", mods...)
	Expect(env.k8s.Create(ctx, pool)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, pool))).To(Succeed()) })
	Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), pool)).To(Succeed())
	if then != nil {
		then(pool)
	}
	pod := runner.BuildPod(pool, name, runner.JITSecretName(name))
	pod.OwnerReferences, pod.Finalizers = nil, nil
	delete(pod.Labels, corralv1.LabelPool)
	// A JIT configuration in GitHub's shape, so the stand-in runner accepts it.
	jit := githubtest.EncodeJITConfig(githubtest.Org("corral-node"), 1, name)
	secret := runner.BuildJITSecret(pool, pod, jit)
	secret.OwnerReferences = nil
	Expect(env.k8s.Create(ctx, secret)).To(Succeed())
	return pod
}

// runHandMade creates pod and waits for its report (or the runtime's refusal); the pod goes
// when the spec ends.
func runHandMade(ctx context.Context, pod *corev1.Pod) report {
	Expect(env.k8s.Create(ctx, pod)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, pod))).To(Succeed()) })
	pool := &corralv1.RunnerPool{}
	pool.Namespace = pod.Namespace
	return reportOfOrPodFailure(ctx, pool, pod.Name)
}

func runnerContainer(p *corev1.Pod) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == "runner" {
			return &p.Spec.Containers[i]
		}
	}
	Fail("the built pod has no runner container")
	return nil
}
