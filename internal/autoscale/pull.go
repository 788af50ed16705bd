package autoscale

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/corral-run/corral/internal/github"
)

// pullMaxBackoff bounds the wait after failed cycles.
const pullMaxBackoff = 5 * time.Minute

// pullWorkers bounds the payloads one reader fetches at once: a burst of 50 jobs at 100 ms a
// request takes 0.6 s, not 5 s.
const pullWorkers = 8

// appBudget is the part of an App client pull mode needs besides its log: the App's own
// hourly budget as GitHub reports it (github.AppClient).
type appBudget interface {
	RateLimit() github.AppRateLimit
}

// puller is pull mode for one GitHub App: it learns every workflow_job event (queued,
// in_progress, completed) of the App's installations from the App's webhook delivery log,
// with no inbound connection. GitHub logs a delivery even when it cannot reach the App's
// webhook URL (that is the point: the URL may lead nowhere). Each cycle lists what was
// logged since the last one (newest first, stopping at the saved progress), fetches the
// payload of each new event once and applies it like a webhook delivery (replayer). Its
// reads stop at opts.Budget of the App's hourly budget (GitHub's x-ratelimit headers, which
// token mints spend too) until GitHub's window resets, and back off on errors. Its
// progress (the last delivery ID applied with everything before it) lives in a ConfigMap,
// so a restart neither re-fetches the hour behind it nor misses what came meanwhile. It
// runs on the leader only.
type puller struct {
	replayer
	appLog
	opts  PullOptions
	state pullState

	handled  *seenSet // GUIDs applied (or that need nothing) in this process
	app      string   // "<app-id>@<GitHub URL>" the progress belongs to
	loaded   bool     // progress read from the ConfigMap for app
	after    int64    // every delivery with an ID up to this is done
	failures int      // failed cycles in a row
	spent    bool     // the last cycle stopped at the budget
}

var (
	_ manager.Runnable               = (*puller)(nil)
	_ manager.LeaderElectionRunnable = (*puller)(nil)
)

func newPuller(opts PullOptions, ref types.NamespacedName, secrets, classes client.Reader, writer client.Client, events eventRecorder,
	timeout time.Duration, m *Metrics, reg prometheus.Registerer,
) *puller {
	return &puller{
		replayer: replayer{classes: classes, events: events, timeout: timeout, metrics: m, now: time.Now},
		appLog:   newAppLog(ref, "pull", secrets, opts.GitHubURL, reg),
		opts:     opts,
		state:    pullState{key: types.NamespacedName{Namespace: ref.Namespace, Name: pullStateName(ref.Name)}, reader: secrets, writer: writer},
		handled:  newSeenSet(2*opts.MaxAge, 100000),
	}
}

// NeedLeaderElection is true: one replica reads the log.
func (p *puller) NeedLeaderElection() bool { return true }

// Start runs cycles until ctx ends, then saves the progress.
func (p *puller) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("webhook-pull").WithValues("credentials", p.ref.String())
	ctx = log.IntoContext(ctx, logger)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if p.loaded {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if err := p.state.save(sctx, pullProgress{app: p.app, after: p.after}, p.now(), true); err != nil {
					logger.Error(err, "saving the pull's progress on shutdown")
				}
			}
			return nil
		case <-t.C:
		}
		t.Reset(jitter(p.cycle(ctx)))
	}
}

// jitter spreads d by up to 10%, so that replicas and Apps do not read in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1)) //nolint:gosec // spreading, not security
}

// cycle reads the log once and returns how long to wait before the next cycle.
func (p *puller) cycle(ctx context.Context) time.Duration {
	logger := log.FromContext(ctx)
	lg, err := p.client(ctx)
	if app := p.appID + "@" + p.opts.GitHubURL; err == nil && app != p.app {
		p.app, p.loaded = app, false // another App's progress means nothing
	}
	if err == nil && !p.loaded {
		p.after, err = p.state.load(ctx, p.app, p.now())
		p.loaded = err == nil
	}
	if err != nil {
		return p.backoff(ctx, err)
	}
	if wait := p.holdForBudget(ctx, lg); wait > 0 {
		return wait
	}
	start := p.now()
	list, complete, err := lg.ListHookDeliveries(ctx, start.Add(-p.opts.MaxAge), p.after, p.opts.MaxPages)
	if err != nil {
		return p.backoff(ctx, err)
	}
	if !complete {
		logger.Info("more was logged since the last read than the page budget reaches: the newest are applied, the pull's progress waits",
			"pages", p.opts.MaxPages)
	}
	failed, spent := p.apply(ctx, lg, pendingDeliveries(list))
	if complete {
		p.after = max(p.after, p.doneUpTo(list))
	}
	if err := p.state.save(ctx, pullProgress{app: p.app, after: p.after}, p.now(), false); err != nil {
		logger.Error(err, "saving the pull's progress; it is kept in memory and saved again next cycle")
	}
	switch {
	case spent:
		return max(p.holdForBudget(ctx, lg), p.opts.Interval)
	case failed:
		return p.backoff(ctx, nil)
	}
	p.failures = 0
	return p.opts.Interval
}

// apply fetches and records the pending deliveries not applied yet, pullWorkers at a time
// (a burst of jobs is one write per pool, not one per job: the recorder's group commit
// takes concurrent events together; their order does not matter, as job states only move
// forward), within the App's budget. failed: some must be tried again (after a backoff);
// spent: the budget stopped it.
func (p *puller) apply(ctx context.Context, lg deliveryLog, pending []github.HookDelivery) (failed, spent bool) {
	budget := newFetchBudget(p.rateLimit(lg), p.opts.Budget, p.now())
	var (
		mu   sync.Mutex
		stop bool
		wg   sync.WaitGroup
		work = make(chan github.HookDelivery)
	)
	for range pullWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				res, halt := p.replay(ctx, lg, d)
				p.metrics.pulled.WithLabelValues(pullResult(res)).Inc()
				if res != replayFailed {
					p.handled.add(d.GUID)
				}
				mu.Lock()
				failed = failed || res == replayFailed
				stop = stop || halt
				mu.Unlock()
			}
		}()
	}
	for _, d := range pending {
		mu.Lock()
		halted := stop
		mu.Unlock()
		if halted {
			break // GitHub or the store is failing: the rest waits for the next cycle
		}
		if p.handled.has(d.GUID) {
			continue
		}
		if !budget.take() {
			spent = true // the rest waits for the budget
			break
		}
		work <- d
	}
	close(work)
	wg.Wait()
	return failed, spent
}

// fetchBudget is what one cycle may still spend of the App's budget: its share less what
// GitHub's last answer said was used, counted down per request sent.
type fetchBudget struct {
	mu        sync.Mutex
	left      int
	unlimited bool
}

func newFetchBudget(rl github.AppRateLimit, share float64, now time.Time) *fetchBudget {
	if rl.Limit <= 0 || !rl.Reset.After(now) {
		return &fetchBudget{unlimited: true} // unknown, or a new window: the answers tell
	}
	return &fetchBudget{left: min(int(share*float64(rl.Limit))-rl.Used, rl.Remaining)}
}

// take reserves one request; false when none is left.
func (b *fetchBudget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unlimited {
		return true
	}
	if b.left <= 0 {
		return false
	}
	b.left--
	return true
}

// backoff returns the wait after a failed cycle (err nil: some deliveries failed and were
// logged already): the rate limit's own wait, or the interval doubled per failure in a row.
func (p *puller) backoff(ctx context.Context, err error) time.Duration {
	p.failures++
	wait := min(p.opts.Interval<<min(p.failures, 10), pullMaxBackoff)
	if err != nil {
		var rl *github.RateLimitError
		if errors.As(err, &rl) {
			wait = max(rl.RetryAfter, p.opts.Interval)
		}
		log.FromContext(ctx).Error(err, "pulling workflow_job events from the App's delivery log", "retryIn", wait.Round(time.Second))
		p.metrics.pulled.WithLabelValues("failed").Inc()
	}
	return wait
}

// holdForBudget returns how long the reads must wait for the App's budget (0: they may
// go): until GitHub's window resets once opts.Budget of it is used, by anything spending
// the App's JWT. It says so once per wait.
func (p *puller) holdForBudget(ctx context.Context, lg deliveryLog) time.Duration {
	wait := budgetWait(p.rateLimit(lg), p.opts.Budget, p.now())
	if wait <= 0 {
		p.spent = false
		return 0
	}
	if !p.spent {
		log.FromContext(ctx).Info("the pull's share of the App's hourly GitHub budget is spent; waiting for GitHub's window to reset",
			"budget", p.opts.Budget, "resumeIn", wait.Round(time.Second))
	}
	p.spent = true
	p.metrics.pulled.WithLabelValues("budget_wait").Inc()
	return wait
}

// rateLimit is the App's budget as lg last saw it; nothing known for a log without one.
func (p *puller) rateLimit(lg deliveryLog) github.AppRateLimit {
	if b, ok := lg.(appBudget); ok {
		return b.RateLimit()
	}
	return github.AppRateLimit{}
}

// budgetWait is the wait rl imposes on reads allowed share of it at now: until its reset
// once a fetchBudget has nothing left.
func budgetWait(rl github.AppRateLimit, share float64, now time.Time) time.Duration {
	if b := newFetchBudget(rl, share, now); b.unlimited || b.left > 0 {
		return 0
	}
	return rl.Reset.Sub(now)
}

// doneUpTo is the highest ID of list such that every listed attempt up to it needs
// nothing or belongs to an event (GUID) applied.
func (p *puller) doneUpTo(list []github.HookDelivery) int64 {
	sorted := append([]github.HookDelivery(nil), list...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	var done int64
	for _, d := range sorted {
		if relevantDelivery(d) && !p.handled.has(d.GUID) {
			break
		}
		done = d.ID
	}
	return done
}

// pullResult is the metric label of a pulled delivery's result.
func pullResult(r replayResult) string {
	switch r {
	case replayed:
		return "applied"
	case replayIgnored:
		return "ignored"
	}
	return "failed" // replayGone too: GitHub will not give it, so the pull moves past it
}

// relevantDelivery reports whether an attempt carries a workflow_job event of an action
// the demand store takes.
func relevantDelivery(d github.HookDelivery) bool {
	if d.Event != "workflow_job" {
		return false
	}
	_, known := stateOf(d.Action)
	return known || d.Action == ""
}

// pendingDeliveries returns, oldest first, one attempt of each relevant workflow_job event
// (GUID) listed, whatever became of its attempts: in pull mode nothing else received them.
func pendingDeliveries(list []github.HookDelivery) []github.HookDelivery {
	first := map[string]github.HookDelivery{}
	for _, d := range list {
		if !relevantDelivery(d) {
			continue
		}
		if cur, ok := first[d.GUID]; !ok || d.ID < cur.ID {
			first[d.GUID] = d
		}
	}
	out := make([]github.HookDelivery, 0, len(first))
	for _, d := range first {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
