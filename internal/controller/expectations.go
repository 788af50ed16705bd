package controller

import (
	"maps"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// expectationTimeout bounds how long a creation is expected to show up in the cache: after
// it, the cache is trusted again (a create that hung is then either visible or failed).
const expectationTimeout = 2 * time.Minute

// expectations remember, per pool, the runners this process is creating until the cache
// shows their pods, and the pods it removed until the cache shows them going, as the
// ReplicaSet controller does. A reconcile that starts before the cache caught up with the
// previous one counts the creations as pending and the removals as gone, so a pool never
// overshoots maxRunners, even for a moment, and spends no GitHub call it does not need.
//
// This is the one piece of decision state kept only in memory, and losing it is safe: a new
// process starts with a cache filled by a fresh, consistent list of the API server, which
// shows every pod a previous process created; a creation the previous process had not
// finished left a registration without a pod, which the sweep removes after its grace.
type expectations struct {
	mu    sync.Mutex
	pools map[types.UID]map[string]expectation // by runner name
	// checked are the pods (by UID) whose JIT Secret was seen to exist: a pod never loses it.
	checked map[types.UID]bool
	// broken names, per pool, pods this process made whose JIT Secret could not be created
	// and which could not be deleted either: replaced as incomplete.
	broken map[types.UID]map[string]bool
	// marks are, per pool and pod UID, the annotations of busy marks (AnnotationBusy and a
	// job's attribution) this process wrote that the cache may not show yet: laid over the
	// cached pods, so a reconcile that overtakes the cache does not patch the same again.
	marks map[types.UID]map[types.UID]map[string]string
}

// marked records that pod of the pool now carries the annotations written (busy mark value,
// and with a job its attribution, of which the job ID annotation stands for all).
func (e *expectations) marked(pool, pod types.UID, value string, job *corralv1.JobAttribution) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.marks == nil {
		e.marks = map[types.UID]map[types.UID]map[string]string{}
	}
	if e.marks[pool] == nil {
		e.marks[pool] = map[types.UID]map[string]string{}
	}
	written := map[string]string{AnnotationBusy: value}
	if job != nil {
		written[corralv1.LabelJobID] = strconv.FormatInt(job.JobID, 10)
	}
	e.marks[pool][pod] = written
}

// overlayMarks lays the busy marks written but not yet shown by the cache over the pool's
// pods (copies the caller owns), and forgets those the cache shows or whose pod is gone.
func (e *expectations) overlayMarks(pool types.UID, pods []corev1.Pod) {
	e.mu.Lock()
	defer e.mu.Unlock()
	marks := e.marks[pool]
	if len(marks) == 0 {
		return
	}
	present := make(map[types.UID]bool, len(pods))
	for i := range pods {
		pod := &pods[i]
		present[pod.UID] = true
		written, ok := marks[pod.UID]
		switch {
		case !ok:
		case shows(pod, written):
			delete(marks, pod.UID)
		default:
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			maps.Copy(pod.Annotations, written)
		}
	}
	for uid := range marks {
		if !present[uid] {
			delete(marks, uid)
		}
	}
}

// expectation is a change the cache does not show yet.
type expectation struct {
	since   time.Time
	removal bool // a removal; else a creation
}

// verify records that pod's JIT Secret exists.
func (e *expectations) verify(pod types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.checked == nil {
		e.checked = map[types.UID]bool{}
	}
	e.checked[pod] = true
}

// verified reports whether pod's JIT Secret was seen.
func (e *expectations) verified(pod types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checked[pod]
}

// markIncomplete records that runner name of the pool has a pod without its JIT Secret.
func (e *expectations) markIncomplete(pool types.UID, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.broken == nil {
		e.broken = map[types.UID]map[string]bool{}
	}
	if e.broken[pool] == nil {
		e.broken[pool] = map[string]bool{}
	}
	e.broken[pool][name] = true
}

// incomplete reports whether runner name of the pool was marked incomplete.
func (e *expectations) incomplete(pool types.UID, name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.broken[pool][name]
}

// expect records that the runner name of the pool is being created.
func (e *expectations) expect(pool types.UID, name string, now time.Time) {
	e.set(pool, name, expectation{since: now})
}

// removed records that the runner's pod was deleted (or released).
func (e *expectations) removed(pool types.UID, name string, now time.Time) {
	e.set(pool, name, expectation{since: now, removal: true})
}

func (e *expectations) set(pool types.UID, name string, x expectation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pools == nil {
		e.pools = map[types.UID]map[string]expectation{}
	}
	if e.pools[pool] == nil {
		e.pools[pool] = map[string]expectation{}
	}
	e.pools[pool][name] = x
}

// forget drops a creation that failed (no pod will come).
func (e *expectations) forget(pool types.UID, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pools[pool], name)
}

// forgetPool drops everything about a pool that is gone.
func (e *expectations) forgetPool(pool types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pools, pool)
	delete(e.broken, pool)
	delete(e.marks, pool)
}

// forgetPod drops what is known of a removed pod.
func (e *expectations) forgetPod(pool types.UID, name string, pod types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.checked, pod)
	delete(e.broken[pool], name)
}

// observe settles what the cache now shows (or what timed out): creations whose pods
// appeared, removals whose pods are gone or being deleted. It returns the runners without
// those this process already removed (the cache may still show them as they were), and the
// names of the creations still in flight.
func (e *expectations) observe(pool types.UID, runners []runnerPod, now time.Time) ([]runnerPod, map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pending := e.pools[pool]
	if len(pending) == 0 {
		return runners, nil
	}
	shown := make(map[string]runnerState, len(runners))
	for _, rp := range runners {
		shown[rp.name()] = rp.state
	}
	inFlight := map[string]bool{}
	for name, x := range pending {
		state, ok := shown[name]
		settled := ok && !x.removal || x.removal && (!ok || state == stateDeleting)
		if settled || now.Sub(x.since) > expectationTimeout {
			delete(pending, name)
			continue
		}
		if !x.removal {
			inFlight[name] = true
		}
	}
	kept := runners[:0:0]
	for _, rp := range runners {
		if x, ok := pending[rp.name()]; !ok || !x.removal {
			kept = append(kept, rp)
		}
	}
	return kept, inFlight
}

// ownWrites remembers, per pool, the status this process last wrote until the cache shows
// it. The pool a reconcile reads comes from the cache, which may not show the previous
// reconcile's status write yet (the pod event that triggered this reconcile can overtake
// it): the history a decision rests on (a failure just counted, a backoff just started)
// would be missing. Only the controller writes the status apart from the demand, so the
// status it wrote last is the newest there is: it is laid over the cached one. Losing this
// on restart is safe: a new process's cache starts from a consistent list.
type ownWrites struct {
	mu    sync.Mutex
	pools map[types.UID]corralv1.RunnerPoolStatus
	// at is when each pool's status was last written (kept after the cache caught up): the
	// pace of count-only writes. Lost on a restart, which writes at once: safe.
	at map[types.UID]time.Time
}

// record remembers st as the status written for pool at now.
func (w *ownWrites) record(pool types.UID, st *corralv1.RunnerPoolStatus, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pools == nil {
		w.pools, w.at = map[types.UID]corralv1.RunnerPoolStatus{}, map[types.UID]time.Time{}
	}
	w.pools[pool] = *withoutDemand(st)
	w.at[pool] = now
}

// lastWrite is when pool's status was last written by this process; zero if never.
func (w *ownWrites) lastWrite(pool types.UID) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at[pool]
}

// overlay lays the status last written for pool over what the cache showed, until the
// cache shows it.
func (w *ownWrites) overlay(pool *corralv1.RunnerPool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	mine, ok := w.pools[pool.UID]
	if !ok {
		return
	}
	if equality.Semantic.DeepEqual(withoutDemand(&pool.Status), &mine) {
		delete(w.pools, pool.UID)
		return
	}
	demand := pool.Status.DeepCopy()
	pool.Status = *mine.DeepCopy()
	setDemand(&pool.Status, demand)
}

// forget drops a pool that is gone.
func (w *ownWrites) forget(pool types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pools, pool)
	delete(w.at, pool)
}

// withoutDemand is st without the part the webhook receiver writes.
func withoutDemand(st *corralv1.RunnerPoolStatus) *corralv1.RunnerPoolStatus {
	out := st.DeepCopy()
	setDemand(out, &corralv1.RunnerPoolStatus{})
	return out
}

// setDemand copies the webhook receiver's part of the status from src to dst.
func setDemand(dst, src *corralv1.RunnerPoolStatus) { dst.Demand = src.Demand }

// shows reports whether pod carries every annotation of written.
func shows(pod *corev1.Pod, written map[string]string) bool {
	for k, v := range written {
		if pod.Annotations[k] != v {
			return false
		}
	}
	return true
}
