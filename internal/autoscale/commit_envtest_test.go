package autoscale

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// A 2xx answer tells GitHub the delivery is safe: it is logged as a success and never
// offered to the recovery again. So the receiver answers 2xx only once the job is in the
// pool's status in the API server.
var _ = Describe("acknowledging a delivery", func() {
	var (
		ns     string
		secret types.NamespacedName
		gate   *writeGate
		pool   types.NamespacedName
		m      *runningManager
	)
	BeforeEach(func() {
		ns = newNamespace()
		secret = createWebhookSecret(ns, string(testSecret))
		pool = createPool(ns, "builders")
		gate = newWriteGate()
		m = startManagerWith(Options{SecretRef: secret}, gate.wrap)
		DeferCleanup(gate.release) // never leave a manager stuck in a held write
	})

	It("waits for the write that records the job", func() {
		gate.hold()
		answered := make(chan int, 1)
		go func() { answered <- m.send("workflow_job", "held-1", job(ns, "queued", 1, ""), false) }()
		Consistently(answered).WithTimeout(1500*time.Millisecond).ShouldNot(Receive(), "answered while the demand write was held")
		Expect(jobsOf(pool)).To(BeEmpty())

		gate.release()
		Eventually(answered).Should(Receive(Equal(http.StatusAccepted)))
		Expect(jobsOf(pool)).To(HaveKeyWithValue(int64(1), "Queued/"), "the job is in the API server when the answer arrives")
	})

	It("answers 503 when the write fails, and takes the redelivery", func() {
		gate.failWith(apierrors.NewServiceUnavailable("etcd is unavailable"))
		status, body := m.sendFull("workflow_job", "failed-1", job(ns, "queued", 1, ""), false)
		Expect(status).To(Equal(http.StatusServiceUnavailable), "answer %s", body)
		Consistently(func() map[int64]string { return jobsOf(pool) }).WithTimeout(time.Second).Should(BeEmpty())

		// GitHub logs the delivery as failed; its redelivery (same GUID) is not a duplicate.
		gate.failWith(nil)
		Expect(m.send("workflow_job", "failed-1", job(ns, "queued", 1, ""), false)).To(Equal(http.StatusAccepted))
		Expect(jobsOf(pool)).To(HaveKeyWithValue(int64(1), "Queued/"))
	})

	It("acknowledges nothing it did not write when it stops in the middle of a held write", func() {
		// A replica of its own whose deliveries wait at most a second.
		gate := newWriteGate()
		short := startManagerWith(Options{SecretRef: secret, CommitTimeout: time.Second}, gate.wrap)
		DeferCleanup(gate.release)
		gate.hold()
		answers := make(chan int, 3)
		for i := range 3 {
			go func() {
				answers <- short.send("workflow_job", fmt.Sprintf("abort-%d", i), job(ns, "queued", int64(100+i), ""), false)
			}()
		}
		Consistently(answers).WithTimeout(300 * time.Millisecond).ShouldNot(Receive())
		short.stop() // the manager stops while the writes are held
		for range 3 {
			var status int
			Eventually(answers).Should(Receive(&status))
			Expect(status).NotTo(BeNumerically("<", 300), "a delivery was acknowledged though its write never happened")
		}
		gate.release()
		Consistently(func() map[int64]string { return jobsOf(pool) }).WithTimeout(time.Second).Should(BeEmpty())
	})

	It("loses no acknowledged job when two replicas take deliveries for one pool at once", func() {
		other := startManager(Options{SecretRef: secret})
		const perReplica = 40
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			refused []string
		)
		for r, replica := range []*runningManager{m, other} {
			for i := range perReplica {
				wg.Go(func() {
					id := int64(r*1000 + i + 1)
					if status := replica.send("workflow_job", fmt.Sprintf("twice-%d", id), job(ns, "queued", id, ""), false); status != http.StatusAccepted {
						mu.Lock()
						refused = append(refused, fmt.Sprintf("job %d: %d", id, status))
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		Expect(refused).To(BeEmpty())
		got := jobsOf(pool)
		Expect(got).To(HaveLen(2 * perReplica))
		AddReportEntry("status writes through the gated replica", len(gate.writes()))
	})

	It("has every acknowledged job of a burst in the API server at the moment it answers", func() {
		const burst = 50
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			missing []string
			slowest time.Duration
		)
		start := time.Now()
		for i := range burst {
			wg.Go(func() {
				defer GinkgoRecover()
				id := int64(i + 1)
				sent := time.Now()
				status := m.send("workflow_job", fmt.Sprintf("burst-%d", id), job(ns, "queued", id, ""), false)
				took := time.Since(sent)
				// Read straight from the API server, right after the answer.
				_, recorded := jobsOf(pool)[id]
				mu.Lock()
				defer mu.Unlock()
				slowest = max(slowest, took)
				if status != http.StatusAccepted || !recorded {
					missing = append(missing, fmt.Sprintf("job %d: answer %d, recorded %v", id, status, recorded))
				}
			})
		}
		wg.Wait()
		all := time.Since(start)
		AddReportEntry("burst of 50 queued deliveries: all persisted and answered after", all)
		AddReportEntry("slowest answer", slowest)
		Expect(missing).To(BeEmpty())
		Expect(jobsOf(pool)).To(HaveLen(burst))
		Expect(all).To(BeNumerically("<", 2*time.Second), "a burst must be persisted well within GitHub's patience")
	})
})
