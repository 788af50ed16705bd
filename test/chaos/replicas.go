//go:build chaos

package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/corral-run/corral/test/harness"
)

// Why a replica's process ended.
const (
	exitKilled    = "SIGKILL"   // the run killed it
	exitFailpoint = "failpoint" // a failpoint hit: exit code 97
	exitOther     = "other"     // anything else: a crash of corral's own
	exitStopped   = "stopped"   // the run stopped it at the end
)

// failpointExitCode is internal/failpoint's ExitCode.
const failpointExitCode = 97

// exitRecord is one end of a replica's process.
type exitRecord struct {
	at        time.Time
	replica   string
	cause     string
	code      int
	failpoint string // the failpoint's name, for exitFailpoint
}

// replica is a corral replica under supervision: whenever its process ends (killed, a
// failpoint, a crash), it is started again after a short random delay, until stop.
type replica struct {
	c   *harness.Corral
	log *logger

	mu       sync.Mutex
	proc     *harness.Process
	isReady  bool
	killing  bool
	stopping bool
	exits    []exitRecord
	done     chan struct{} // closed when supervise returns
}

func newReplica(c *harness.Corral, log *logger) *replica {
	return &replica{c: c, log: log, done: make(chan struct{})}
}

// supervise runs the replica until stop.
func (r *replica) supervise() {
	defer close(r.done)
	for {
		r.mu.Lock()
		if r.stopping {
			r.mu.Unlock()
			return
		}
		p, err := r.c.Launch()
		r.proc, r.isReady = p, false
		r.mu.Unlock()
		if err != nil {
			r.log.logf("%s did not start: %v", r.c.Name(), err)
			time.Sleep(time.Second)
			continue
		}
		if err := r.c.WaitReady(p); err == nil {
			r.mu.Lock()
			r.isReady = p.Running()
			r.mu.Unlock()
		} else if p.Running() {
			r.log.logf("%s: %v", r.c.Name(), err)
		}
		<-p.Done()
		if !r.recordExit(p) {
			return
		}
		time.Sleep(time.Duration(500+rand.IntN(2500)) * time.Millisecond) //nolint:gosec // jitter
	}
}

// recordExit notes why p ended; false when the replica is stopping.
func (r *replica) recordExit(p *harness.Process) bool {
	rec := exitRecord{at: time.Now(), replica: r.c.Name(), code: p.ExitCode()}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.killing:
		rec.cause = exitKilled
	case r.stopping:
		rec.cause = exitStopped
	case rec.code == failpointExitCode:
		rec.cause, rec.failpoint = exitFailpoint, lastFailpoint(filepath.Join(r.c.Options.LogDir, r.c.Name()+".log"))
	default:
		rec.cause = exitOther
	}
	r.killing, r.isReady = false, false
	r.exits = append(r.exits, rec)
	if rec.cause != exitKilled && rec.cause != exitStopped {
		r.log.logf("%s exited (%s %s, code %d); restarting it", r.c.Name(), rec.cause, rec.failpoint, rec.code)
	}
	return !r.stopping
}

var failpointLine = regexp.MustCompile(`failpoint (\S+) hit`)

// lastFailpoint is the name of the last failpoint hit in the log at path.
func lastFailpoint(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	m := failpointLine.FindAllSubmatch(b[max(0, len(b)-64<<10):], -1)
	if len(m) == 0 {
		return "?"
	}
	return string(m[len(m)-1][1])
}

// kill sends SIGKILL to the replica's process if it runs; false when there was none.
func (r *replica) kill() bool {
	r.mu.Lock()
	p := r.proc
	if p == nil || !p.Running() || r.stopping {
		r.mu.Unlock()
		return false
	}
	r.killing = true
	r.mu.Unlock()
	p.Kill()
	return true
}

// ready reports whether the replica's process runs and answered its readiness probe.
func (r *replica) ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.isReady && r.proc != nil && r.proc.Running()
}

// stop ends the supervision and stops the process (SIGTERM). Safe to call twice.
func (r *replica) stop() {
	r.mu.Lock()
	already := r.stopping
	r.stopping = true
	p := r.proc
	r.mu.Unlock()
	if already {
		return
	}
	if p != nil {
		p.Stop(10 * time.Second)
	}
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
	}
}

// exitLog is a copy of the replica's exits.
func (r *replica) exitLog() []exitRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exitRecord(nil), r.exits...)
}

// interval is a span of time; a zero end means it is still open.
type interval struct{ from, to time.Time }

// leaderMonitor finds the leader twice a second from each replica's
// leader_election_master_status metric, and follows the Lease's holder: it records when no
// replica led (leaderless intervals) and every change of holder.
type leaderMonitor struct {
	replicas []*replica
	k8s      client.Client

	mu         sync.Mutex
	leader     int // index into replicas; -1 when none
	leaderless []interval
	holder     string
	holders    int // changes of the Lease's holder
}

func newLeaderMonitor(replicas []*replica, k8s client.Client) *leaderMonitor {
	return &leaderMonitor{replicas: replicas, k8s: k8s, leader: -1, leaderless: []interval{{from: time.Now()}}}
}

// leaseName is corral's LeaderElectionID.
const leaseName = "corral.corral.run"

// run samples twice a second until ctx is done.
func (m *leaderMonitor) run(ctx context.Context) {
	wait.UntilWithContext(ctx, m.sample, 500*time.Millisecond)
}

func (m *leaderMonitor) sample(ctx context.Context) {
	leader := -1
	for i, r := range m.replicas {
		if !r.ready() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		metrics, err := harness.Scrape(sctx, r.c.MetricsURL(), "")
		cancel()
		if err == nil && metrics.Sum("leader_election_master_status", `name="`+leaseName+`"`) == 1 {
			leader = i
		}
	}
	lease := &coordinationv1.Lease{}
	holder := ""
	if err := m.k8s.Get(ctx, client.ObjectKey{Namespace: harness.OperatorNamespace, Name: leaseName}, lease); err == nil && lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if holder != "" && holder != m.holder {
		if m.holder != "" {
			m.holders++
		}
		m.holder = holder
	}
	open := len(m.leaderless) > 0 && m.leaderless[len(m.leaderless)-1].to.IsZero()
	switch {
	case leader < 0 && !open:
		m.leaderless = append(m.leaderless, interval{from: now})
	case leader >= 0 && open:
		m.leaderless[len(m.leaderless)-1].to = now
	}
	m.leader = leader
}

// current is the index of the leading replica, -1 when none leads.
func (m *leaderMonitor) current() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leader
}

// lease is the Lease's holder and how often it changed hands.
func (m *leaderMonitor) lease() (string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holder, m.holders
}

// gaps are the intervals without a leader, the open one closed at now.
func (m *leaderMonitor) gaps() []interval {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]interval(nil), m.leaderless...)
	if n := len(out); n > 0 && out[n-1].to.IsZero() {
		out[n-1].to = time.Now()
	}
	return out
}
