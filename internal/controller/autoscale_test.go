package controller_test

import (
	"fmt"
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github/githubtest"
	"github.com/corral-run/corral/test/gen"
)

// deliver sends a signed workflow_job delivery to the running manager's receiver.
func deliver(org, action string, id int64, runnerName string, form bool) {
	GinkgoHelper()
	u, err := url.Parse(fake.URL())
	Expect(err).NotTo(HaveOccurred())
	deliverJob(githubtest.WorkflowJob{
		Action: action, ID: id, Labels: []string{"self-hosted", "linux"}, RunnerName: runnerName,
		Repository: org + "/app", Host: u.Host,
	}, form)
}

// deliverJob sends job as a signed workflow_job delivery to the running manager's receiver.
func deliverJob(job githubtest.WorkflowJob, form bool) {
	GinkgoHelper()
	payload := githubtest.WorkflowJobPayload(job)
	Eventually(func() (int, error) {
		code, _, err := githubtest.SendWebhook(ctx, http.DefaultClient, "http://"+webhookAddr+"/webhook",
			githubtest.WebhookRequest{Event: "workflow_job", Payload: payload, Secret: webhookSecret, Form: form})
		return code, err
	}).Should(BeNumerically("<", 300))
}

var _ = Describe("Autoscaling from workflow_job webhooks", func() {
	It("grows with queued jobs up to maxRunners and shrinks back to minIdle without killing busy runners", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("scaler", ns, "scale", gen.WithMinIdle(1), gen.WithMaxRunners(20), gen.WithLabels("linux"))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))

		for i := range int64(30) {
			deliver("scale", "queued", 7000+i, "", i%2 == 1) // half of them form-encoded, as org webhooks send them
		}
		deliver("scale", "queued", 7000, "", false) // a redelivery counts once
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(20), "min(30 + minIdle, maxRunners)")
		Consistently(func() []corev1.Pod { return runnerPods(pool) }, "1s").Should(HaveLen(20))
		Eventually(func() int32 { return getPool(pool).Status.Queued }).Should(Equal(int32(30)))

		runAll(pool)
		busy := podNames(runnerPods(pool))[:5]
		for i, name := range busy {
			Expect(fake.StartJob(name)).To(Succeed())
			deliver("scale", "in_progress", 7000+int64(i), name, false)
		}
		for i := int64(5); i < 30; i++ {
			deliver("scale", "completed", 7000+i, "", false) // cancelled before a runner took them
		}
		// busy (5) + minIdle (1): the busy runners stay, the other idle ones go.
		eventually(func() []string { return podNames(runnerPods(pool)) }).Should(And(HaveLen(6), ContainElements(busy)))
		Consistently(func() []string { return podNames(runnerPods(pool)) }, "1s").Should(ContainElements(busy))

		for i, name := range busy {
			Expect(fake.FinishJob(name)).To(Succeed())
			deliver("scale", "completed", 7000+int64(i), name, false)
			for _, p := range runnerPods(pool) {
				if p.Name == name {
					setPhase(&p, corev1.PodSucceeded, 0)
				}
			}
		}
		eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		Eventually(func() int32 { return getPool(pool).Status.Queued }).Should(BeZero())
	})

	It("ignores a completed delivery that arrives before its queued one", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("order", ns, "order", gen.WithMinIdle(0), gen.WithMaxRunners(5), gen.WithLabels("linux"))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(poolCondition(pool, corralv1.ConditionReady)).Should(HaveField("Reason", corralv1.ReasonReconciled))
		deliver("order", "completed", 8100, "", false)
		deliver("order", "queued", 8100, "", false)
		Consistently(func() []corev1.Pod { return runnerPods(pool) }, "2s").Should(BeEmpty(), fmt.Sprintf("job %d is already done", 8100))
	})

	It("does not let a forged in_progress pin an idle runner busy", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("pinned", ns, "pin", gen.WithMinIdle(1), gen.WithLabels("linux"))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Eventually(func() []corev1.Pod { return runnerPods(pool) }).Should(HaveLen(1))
		runAll(pool)
		victim := runnerPods(pool)[0].Name
		// Someone with the webhook secret says the idle runner took a job; GitHub knows better.
		deliver("pin", "in_progress", 9001, victim, false)
		eventually(func() int { return len(runnerPods(pool)) }).Should(Equal(2), "believed busy at first: a second runner is kept idle")
		eventually(func() string {
			p := &corev1.Pod{}
			_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: victim}, p)
			return p.Annotations[controller.AnnotationBusy]
		}).Should(Equal(controller.BusyRefuted), "GitHub, asked after the claim's TTL, says it is not busy")
		eventually(func() []string { return podNames(runnerPods(pool)) }).Should(ConsistOf(victim), "back to minIdle: nothing pinned, the refuted runner is the idle one")
	})
})
