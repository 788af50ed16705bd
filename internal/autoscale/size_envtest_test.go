package autoscale

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/corral-run/corral/internal/github"
)

// The demand lives in the pool object, which etcd stores whole on every write and every
// watcher decodes: it must stay small however many jobs are queued.
var _ = Describe("the size of the demand", func() {
	It("keeps a pool with 2,000 queued jobs under 64 KiB and bounds the bytes written per job", func() {
		const jobs = 2000
		ns := newNamespace()
		secret := createWebhookSecret(ns, string(testSecret))
		key := createPool(ns, "builders")
		gate := newWriteGate()
		m := startManagerWith(Options{SecretRef: secret}, gate.wrap)
		// Job IDs as github.com hands them out today (11 digits).
		const firstID = int64(41_000_000_000)
		prefix := github.RunnerNamePrefix(key.Name, getPool(key).UID)

		deliver := func(action string) {
			var (
				wg     sync.WaitGroup
				next   atomic.Int64
				failed atomic.Int64
			)
			for range 32 { // GitHub delivers concurrently
				wg.Go(func() {
					for i := next.Add(1) - 1; i < jobs; i = next.Add(1) - 1 {
						runner := ""
						if action != "queued" {
							runner = fmt.Sprintf("%s%05d", prefix, i)
						}
						status := m.send("workflow_job", fmt.Sprintf("%s-%d", action, i), job(ns, action, firstID+i, runner), false)
						if status != http.StatusAccepted {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			Expect(failed.Load()).To(BeZero(), "%s deliveries not accepted", action)
		}
		demandNow := func() Demand { return DemandOf(getPool(key), time.Now(), DefaultDemandTTL) }

		deliver("queued")
		Eventually(demandNow).WithTimeout(time.Minute).Should(HaveField("Queued", int32(jobs)))
		size := len(rawPool(key))
		AddReportEntry("pool object with 2,000 queued jobs, bytes (as returned by the API server, managedFields included)", size)
		queuedWrites := len(gate.writes())
		Expect(size).To(BeNumerically("<", 64<<10))

		deliver("in_progress")
		Eventually(demandNow).WithTimeout(time.Minute).Should(And(HaveField("Queued", BeZero()), HaveField("BusyRunners", HaveLen(jobs))))
		busySize := len(rawPool(key))
		AddReportEntry("pool object with 2,000 running jobs, bytes", busySize)
		Expect(busySize).To(BeNumerically("<", 64<<10))

		deliver("completed")
		Eventually(demandNow).WithTimeout(time.Minute).Should(HaveField("BusyRunners", BeEmpty()))
		AddReportEntry("pool object with 2,000 completed jobs, bytes", len(rawPool(key)))

		writes := gate.writes()
		var request, object, largest int
		for _, w := range writes {
			request += w.request
			object += w.object
			largest = max(largest, w.object)
		}
		AddReportEntry("status writes for the life of 2,000 jobs (queued, in_progress, completed)", fmt.Sprintf("%d (%d while queueing)", len(writes), queuedWrites))
		AddReportEntry("bytes written per job (pool objects stored / jobs)", object/jobs)
		AddReportEntry("bytes sent per job (apply request bodies / jobs)", request/jobs)
		AddReportEntry("largest pool object written, bytes", largest)
		Expect(largest).To(BeNumerically("<", 64<<10), "no write stores a pool of 64 KiB or more")
		Expect(len(writes)).To(BeNumerically("<=", 3*jobs), "each job changes state at most 3 times, each change carried by one write")
	})
})
