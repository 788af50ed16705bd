package controller_test

import (
	"net/url"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("Job attribution", func() {
	It("labels a runner pod with the job it took, in the busy mark's patch, whatever the job's author named it", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("attr", ns, "attr", gen.WithMinIdle(2), gen.WithLabels("linux"))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(2))
		runAll(pool)
		names := podNames(runnerPods(pool))
		plain, hostile := names[0], names[1]
		// Every version of the pods the API server stores: the busy mark and the job's
		// attribution must arrive together (one patch, no second write per runner).
		versions := watchPods(ns)

		u, err := url.Parse(fake.URL())
		Expect(err).NotTo(HaveOccurred())
		// Delivered before GitHub's side shows the job (the order is GitHub's choice): a sweep
		// in between would otherwise confirm the runner busy before its job is known.
		deliverJob(githubtest.WorkflowJob{Action: "in_progress", ID: 9101, Labels: []string{"self-hosted", "linux"}, RunnerName: plain,
			Repository: "attr/app", Host: u.Host, Name: "build", WorkflowName: "CI", Sender: "octocat", RunID: 555, RunAttempt: 2}, false)
		Expect(fake.StartJob(plain)).To(Succeed())
		evilName := "x\n" + strings.Repeat("\u202e\x1b[2J", 200) + strings.Repeat("y", 4000)
		deliverJob(githubtest.WorkflowJob{Action: "in_progress", ID: 9102, Labels: []string{"self-hosted", "linux"}, RunnerName: hostile,
			Repository: "attr/app", Host: u.Host, Name: evilName, WorkflowName: "deploy\"; rm -rf / #", Sender: "dependabot[bot]", RunID: 556, RunAttempt: 1}, false)
		Expect(fake.StartJob(hostile)).To(Succeed())

		selected := func(sel client.MatchingLabels) []string {
			pods := &corev1.PodList{}
			Expect(k8s.List(ctx, pods, client.InNamespace(ns), sel)).To(Succeed())
			return podNames(pods.Items)
		}
		eventually(func() []string { return selected(client.MatchingLabels{corralv1.LabelJobRepository: "attr.app"}) }).
			Should(ConsistOf(plain, hostile), "kubectl get pods -l corral.run/repository=attr.app")
		Expect(selected(client.MatchingLabels{corralv1.LabelJobName: "build", corralv1.LabelJobRunAttempt: "2"})).To(ConsistOf(plain))
		Expect(selected(client.MatchingLabels{corralv1.LabelJobID: "9102", corralv1.LabelJobRunID: "556"})).To(ConsistOf(hostile))

		p := getPod(ns, plain)
		Expect(p.Labels).To(HaveKeyWithValue(corralv1.LabelJobWorkflow, "CI"))
		Expect(p.Labels).To(HaveKeyWithValue(corralv1.LabelJobSender, "octocat"))
		Expect(p.Annotations).To(HaveKeyWithValue(corralv1.LabelJobRepository, "attr/app"))
		h := getPod(ns, hostile)
		for _, k := range []string{corralv1.LabelJobName, corralv1.LabelJobWorkflow, corralv1.LabelJobSender} {
			Expect(h.Labels).NotTo(HaveKey(k), "no label value as it is: annotation only")
			Expect(h.Annotations).To(HaveKey(k))
		}
		Expect(h.Annotations[corralv1.LabelJobName]).To(HavePrefix("x[2J"), "newlines, escapes and bidi overrides dropped")
		Expect(len(h.Annotations[corralv1.LabelJobName])).To(BeNumerically("<=", corralv1.MaxAttributionValue))
		Expect(h.Annotations[corralv1.LabelJobWorkflow]).To(Equal(`deploy"; rm -rf / #`))
		Expect(h.Annotations[corralv1.LabelJobSender]).To(Equal("dependabot[bot]"))

		for _, name := range []string{plain, hostile} {
			for _, v := range versions(name) {
				if v.Annotations[controller.AnnotationBusy] != "" {
					Expect(v.Annotations).To(HaveKey(corralv1.LabelJobID), "pod %s was marked busy without its job: two patches", name)
				}
			}
		}
		eventually(func() []string { return jobEvents(ns, plain) }).Should(ContainElement(ContainSubstring(`job 9101 ("build") of attr/app`)))
	})
})

func getPod(ns, name string) *corev1.Pod {
	GinkgoHelper()
	p := &corev1.Pod{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
	return p
}

// jobEvents are the messages of the JobStarted Events of pod.
func jobEvents(ns, pod string) []string {
	GinkgoHelper()
	list := &corev1.EventList{}
	Expect(k8s.List(ctx, list, client.InNamespace(ns),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("involvedObject.name", pod)})).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Reason == "JobStarted" {
			out = append(out, e.Message)
		}
	}
	return out
}

// watchPods records every version of the namespace's pods from now on; the returned
// function gives those of one pod.
func watchPods(ns string) func(name string) []corev1.Pod {
	GinkgoHelper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var (
		mu   sync.Mutex
		seen = map[string][]corev1.Pod{}
	)
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				mu.Lock()
				seen[p.Name] = append(seen[p.Name], *p.DeepCopy())
				mu.Unlock()
			}
		}
	}()
	return func(name string) []corev1.Pod {
		mu.Lock()
		defer mu.Unlock()
		return append([]corev1.Pod(nil), seen[name]...)
	}
}
