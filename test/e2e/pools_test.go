//go:build e2e

package e2e

import (
	"context"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

// newNamespace creates a namespace for one spec, holding the fake GitHub's credentials
// Secret and CA ConfigMap (applied with kubectl, as a user would). It is deleted when the
// spec ends.
func newNamespace(ctx context.Context, prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-" + prefix + "-"}}
	Expect(env.k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, ns))).To(Succeed())
	})
	_, err := env.kubectlRun(ctx, "apply", "-n", ns.Name, "-f", env.fakeInfo.CredentialsManifest)
	Expect(err).NotTo(HaveOccurred())
	return ns.Name
}

// createPool creates a RunnerPool registering with the fake GitHub (its org URL, App
// credentials and CA), with label e2e and the given modifiers. When the spec ends the pool is
// deleted and the suite waits for the drain, so no registration outlives the spec.
func createPool(ctx context.Context, ns, name string, mods ...gen.PoolModifier) *corralv1.RunnerPool {
	pool := env.fake.Pool(ns, name, append([]gen.PoolModifier{gen.WithLabels("e2e")}, mods...)...)
	Expect(env.k8s.Create(ctx, pool)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(env.k8s.Delete(ctx, pool))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), &corralv1.RunnerPool{}))
		}).WithContext(ctx).Should(BeTrue(), "pool %s/%s must drain and go away", ns, name)
	}, NodeTimeout(2*time.Minute))
	return pool
}

// prefix is the runner name prefix of pool: every runner of the pool, and no other, has it.
func prefix(pool *corralv1.RunnerPool) string { return github.RunnerNamePrefix(pool.Name, pool.UID) }

// runnerPods lists the pool's runner pods, by name.
func runnerPods(ctx context.Context, g Gomega, pool *corralv1.RunnerPool) []corev1.Pod {
	pods, err := harness.RunnerPods(ctx, env.k8s, pool)
	g.Expect(err).NotTo(HaveOccurred())
	return pods
}

// registrations returns the names of the fake GitHub's runners that belong to pool, sorted.
func registrations(ctx context.Context, g Gomega, pool *corralv1.RunnerPool) []githubtest.Runner {
	all, err := env.gh.Runners(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	var out []githubtest.Runner
	for _, r := range all {
		if github.OwnsRunnerName(prefix(pool), r.Name) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func runnerNames(rs []githubtest.Runner) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// expectRegistrationsMatchPods checks that GitHub has exactly one registration per live
// runner pod of the pool: no orphaned registration and no pod without one.
func expectRegistrationsMatchPods(ctx context.Context, g Gomega, pool *corralv1.RunnerPool) {
	var live []corev1.Pod
	for _, p := range runnerPods(ctx, g, pool) {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			live = append(live, p)
		}
	}
	g.Expect(runnerNames(registrations(ctx, g, pool))).To(Equal(harness.PodNames(live)), "registrations in GitHub = live runner pods")
}

// expectNothingLeft checks that a deleted pool left no pod, JIT Secret, NetworkPolicy or
// registration behind.
func expectNothingLeft(ctx context.Context, g Gomega, pool *corralv1.RunnerPool) {
	sel := client.MatchingLabels{corralv1.LabelPool: pool.Name}
	pods := &corev1.PodList{}
	g.Expect(env.k8s.List(ctx, pods, client.InNamespace(pool.Namespace), sel)).To(Succeed())
	g.Expect(harness.PodNames(pods.Items)).To(BeEmpty(), "runner pods")
	secrets := &corev1.SecretList{}
	g.Expect(env.k8s.List(ctx, secrets, client.InNamespace(pool.Namespace), sel)).To(Succeed())
	g.Expect(secrets.Items).To(BeEmpty(), "JIT Secrets")
	policies := &networkingv1.NetworkPolicyList{}
	g.Expect(env.k8s.List(ctx, policies, client.InNamespace(pool.Namespace), sel)).To(Succeed())
	g.Expect(policies.Items).To(BeEmpty(), "NetworkPolicies")
	g.Expect(registrations(ctx, g, pool)).To(BeEmpty(), "registrations")
}

// poolStatus reads the pool's status.
func poolStatus(ctx context.Context, g Gomega, pool *corralv1.RunnerPool) corralv1.RunnerPoolStatus {
	got := &corralv1.RunnerPool{}
	g.Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
	return got.Status
}

// patchPool changes the pool's spec with a merge patch.
func patchPool(ctx context.Context, pool *corralv1.RunnerPool, change func(*corralv1.RunnerPool)) {
	got := &corralv1.RunnerPool{}
	Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
	patch := client.MergeFrom(got.DeepCopy())
	change(got)
	Expect(env.k8s.Patch(ctx, got, patch)).To(Succeed())
}

// jobsWithLabel returns the fake's jobs that carry label.
func jobsWithLabel(ctx context.Context, g Gomega, label string) []app.Job {
	all, err := env.gh.Jobs(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	var out []app.Job
	for _, j := range all {
		for _, l := range j.Labels {
			if strings.EqualFold(l, label) {
				out = append(out, j)
				break
			}
		}
	}
	return out
}
