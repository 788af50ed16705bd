package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// admissionTTL is how long a pool's pod, once admitted by a dry run, is not dry-run again:
// one dry run per pool and template per 5 minutes instead of one per creation batch.
const admissionTTL = 5 * time.Minute

// admissions remember, per pool, the template hash a dry run last admitted and when. Kept
// only in memory, and losing it is safe: a new process dry-runs once more. A change that
// makes admission refuse a template it admitted before (a quota filled, a stricter Pod
// Security label) is caught by the real create, which deregisters the runner and forgets the
// pool here, so the next attempt dry-runs first again: at most one creation batch of
// registrations is made and removed per such change.
type admissions struct {
	mu   sync.Mutex
	pool map[types.UID]admitted
}

type admitted struct {
	hash string
	at   time.Time
}

// fresh reports whether the pool's template with hash was admitted less than admissionTTL
// before now.
func (a *admissions) fresh(pool types.UID, hash string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	got, ok := a.pool[pool]
	return ok && got.hash == hash && now.Sub(got.at) < admissionTTL && !now.Before(got.at)
}

// record remembers that a dry run admitted the pool's template with hash at now.
func (a *admissions) record(pool types.UID, hash string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pool == nil {
		a.pool = map[types.UID]admitted{}
	}
	a.pool[pool] = admitted{hash: hash, at: now}
}

// forget drops what is known of the pool: admission refused it, or it is gone.
func (a *admissions) forget(pool types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pool, pool)
}

// podHash identifies what admission judges of a runner pod: all of it, metadata included
// (policy engines read labels and annotations too).
func podHash(pod *corev1.Pod) string {
	data, _ := json.Marshal(pod) // API types always marshal
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
