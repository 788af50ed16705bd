package controller

import (
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// poolMemory is what the controller remembers about a pool between reconciles and cannot
// read back from the cluster: runner failures (for backoff), the last sweep, registrations
// seen without a pod (orphan candidates) and a template whose runner version GitHub refused.
// It is lost on restart, which costs at most one extra runner attempt or sweep.
type poolMemory struct {
	failures       int
	nextCreate     time.Time
	lastSweep      time.Time
	orphanSeen     map[string]time.Time
	deprecatedHash string
	// backoff says why creations back off: the condition reported while they do.
	backoff *metav1.Condition
}

// memories holds a poolMemory per pool UID. Reconciles of one pool never run concurrently,
// but different pools do, so access goes through the mutex.
type memories struct {
	mu    sync.Mutex
	pools map[types.UID]*poolMemory
}

// with runs f on the pool's memory under the lock.
func (m *memories) with(uid types.UID, f func(*poolMemory)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pools == nil {
		m.pools = map[types.UID]*poolMemory{}
	}
	pm, ok := m.pools[uid]
	if !ok {
		pm = &poolMemory{orphanSeen: map[string]time.Time{}}
		m.pools[uid] = pm
	}
	f(pm)
}

// forget drops a deleted pool's memory.
func (m *memories) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pools, uid)
}

// backOff records a failure: creations wait failureBackoff(failures) from now, and cond
// says why in the meantime.
func (m *poolMemory) backOff(now time.Time, cond *metav1.Condition) {
	m.failures++
	m.nextCreate = now.Add(failureBackoff(m.failures))
	m.backoff = cond
}

// failureBackoff is the wait after n consecutive runner failures: 10 s doubling, at most
// 10 minutes.
func failureBackoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := 10 * time.Second
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}
