package controller_test

import (
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

var _ = Describe("Status writes", func() {
	It("writes a pool's status at most once per interval while runners come and go, and the last counts land", func() {
		ns, _ := newNamespace(nil)
		pool := fakePool("pace", ns, "acme", gen.WithMinIdle(0), gen.WithMaxRunners(12))
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		eventually(poolCondition(pool, corralv1.ConditionReady)).Should(Not(BeNil()))
		writes := countStatusWrites(pool)
		start := time.Now()

		updatePool(pool, func(p *corralv1.RunnerPool) { p.Spec.MinIdle = 10 })
		eventually(func() int { return len(runnerPods(pool)) }).Should(Equal(10))
		for _, p := range runnerPods(pool) { // ten runners coming up one by one: ten reconciles
			setPhase(&p, corev1.PodRunning, 0)
			Expect(fake.SetOnline(p.Name)).To(Succeed())
			time.Sleep(250 * time.Millisecond)
		}
		eventually(func() int32 { return getPool(pool).Status.Idle }).Should(Equal(int32(10)),
			"a write deferred by the interval is made when it ends, with no other event to trigger it")
		elapsed := time.Since(start)
		got := writes()
		// One write per started interval, plus the immediate ones: the new generation observed,
		// and the pool's first Ready transition to Scaling may fall in any interval.
		bound := int(elapsed/suiteOptions.StatusInterval) + 3
		GinkgoWriter.Printf("%d status writes in %s for 10 runners (bound %d)\n", got, elapsed.Round(time.Millisecond), bound)
		Expect(got).To(BeNumerically("<=", bound), "status written %d times in %s: once per runner, not once per interval", got, elapsed)
		Expect(getPool(pool).Status.Runners).To(Equal(int32(10)))
	})
})

// countStatusWrites watches the pool and counts the changes of its status other than the
// webhook receiver's demand: the controller's status writes. The returned function stops
// the watch and returns the count so far.
func countStatusWrites(pool *corralv1.RunnerPool) func() int {
	GinkgoHelper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	list := &corralv1.RunnerPoolList{}
	w, err := wc.Watch(ctx, list, client.InNamespace(pool.Namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", pool.Name)})
	Expect(err).NotTo(HaveOccurred())
	var (
		mu    sync.Mutex
		n     int
		last  *corralv1.RunnerPoolStatus
		done  = make(chan struct{})
		strip = func(st corralv1.RunnerPoolStatus) *corralv1.RunnerPoolStatus { st.Demand = nil; return &st }
	)
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corralv1.RunnerPool)
			if !ok || ev.Type == watch.Error {
				continue
			}
			st := strip(*p.Status.DeepCopy())
			mu.Lock()
			if last != nil && !equality.Semantic.DeepEqual(last, st) {
				n++
			}
			last = st
			mu.Unlock()
		}
	}()
	return func() int {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
