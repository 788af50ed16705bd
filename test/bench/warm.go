//go:build bench

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
)

// warmTimeout bounds each wait of the warm-pool phase (a runner to take the job, its
// replacement to appear).
const warmTimeout = 30 * time.Second

// warmPool is the warm-pool phase's pool.
const warmPool = "warm"

// warmResult is the warm-pool phase: jobs sent one at a time to a pool with idle runners.
type warmResult struct {
	idle, jobs int
	interval   time.Duration
	// replaced is, per job, the time from its in_progress delivery to the replacement
	// runner's pod created (sorted); early counts the replacements created before that
	// delivery (counted as 0), missing the jobs without one within warmTimeout.
	replaced       []time.Duration
	early, missing int
	// taken counts the jobs a runner took, byExisting those taken by a runner whose pod
	// existed before the job was queued (an idle runner, not one created for the job).
	taken, byExisting int
	cost              cost
}

// warm creates a pool with minIdle idle runners and, once they are online, sends jobs one
// every interval (far below GitHub's limits); each must be taken by an idle runner and the
// pool must create a replacement. The pool is deleted at the end.
func (e *environment) warm(ctx context.Context, pt *podTimes, idle, jobs int, interval time.Duration) (warmResult, error) {
	r := warmResult{idle: idle, jobs: jobs, interval: interval}
	if err := e.createPool(ctx, nsLimits, warmPool, e.fake, int32(idle), int32(2*idle+4)); err != nil {
		return r, err
	}
	if err := e.waitIdleRunners(ctx, pt, idle, 3*time.Minute); err != nil {
		return r, err
	}
	if err := sleep(ctx, 3*time.Second); err != nil { // the pool's status settles
		return r, err
	}
	before, err := e.snapshot(ctx)
	if err != nil {
		return r, err
	}
	for i := range jobs {
		next := time.Now().Add(interval)
		if err := e.warmJob(ctx, pt, &r); err != nil {
			return r, fmt.Errorf("job %d of %d: %w", i+1, jobs, err)
		}
		if err := sleep(ctx, time.Until(next)); err != nil {
			return r, err
		}
	}
	sortDurations(r.replaced)
	if err := sleep(ctx, e.cfg.jobDuration+3*time.Second); err != nil { // the last job completes, its pod goes
		return r, err
	}
	if r.cost, err = e.phaseCost(ctx, before, warmPool); err != nil {
		return r, err
	}
	return r, e.deletePool(ctx, pt, nsLimits, warmPool)
}

// warmJob queues one job once an idle runner is online and records who took it and how
// soon a replacement came.
func (e *environment) warmJob(ctx context.Context, pt *podTimes, r *warmResult) error {
	if err := e.waitIdleRunners(ctx, pt, 1, warmTimeout); err != nil {
		return err
	}
	existing := pt.pods(warmPool)
	resp, err := e.gh.Queue(ctx, app.QueueRequest{Count: 1, Labels: []string{"self-hosted", "linux", warmPool}})
	if err != nil || len(resp.Jobs) != 1 {
		return fmt.Errorf("queueing a job: %v", err)
	}
	job, err := e.waitInProgress(ctx, resp.Jobs[0].ID)
	if err != nil {
		return err
	}
	r.taken++
	if _, ok := existing[job.Runner]; ok {
		r.byExisting++
	}
	started := job.Delivered[string(app.JobInProgress)]
	for deadline := started.Add(warmTimeout); time.Now().Before(deadline); {
		for name, s := range pt.pods(warmPool) {
			if _, old := existing[name]; old || name == job.Runner {
				continue
			}
			if d := s.created.Sub(started); d < 0 {
				r.early++
				r.replaced = append(r.replaced, 0)
			} else {
				r.replaced = append(r.replaced, d)
			}
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	r.missing++
	logf("warm pool: no replacement within %s of job %d's in_progress delivery", warmTimeout, job.ID)
	return nil
}

// waitInProgress waits until a runner took job id and its in_progress delivery went out.
func (e *environment) waitInProgress(ctx context.Context, id int64) (app.Job, error) {
	for deadline := time.Now().Add(warmTimeout); time.Now().Before(deadline); {
		j, err := e.gh.Job(ctx, id)
		if err != nil {
			return j, err
		}
		if _, ok := j.Delivered[string(app.JobInProgress)]; ok {
			return j, nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return j, err
		}
	}
	return app.Job{}, fmt.Errorf("no runner took job %d within %s", id, warmTimeout)
}

// waitIdleRunners waits until n runners of the warm pool are online and idle at the fake.
func (e *environment) waitIdleRunners(ctx context.Context, pt *podTimes, n int, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		runners, err := e.gh.Runners(ctx)
		if err != nil {
			return fmt.Errorf("listing the fake's runners: %w", err)
		}
		pods, idle := pt.pods(warmPool), 0
		for _, ru := range runners {
			if _, ok := pods[ru.Name]; ok && ru.Online && !ru.Busy {
				idle++
			}
		}
		if idle >= n {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("fewer than %d idle runners online in pool %s after %s", n, warmPool, timeout)
}

// deletePool deletes a pool and waits until its pods are gone.
func (e *environment) deletePool(ctx context.Context, pt *podTimes, ns, name string) error {
	pool := &corralv1.RunnerPool{}
	pool.Namespace, pool.Name = ns, name
	if err := e.k8s.Delete(ctx, pool); err != nil {
		return fmt.Errorf("deleting pool %s/%s: %w", ns, name, err)
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		if _, _, live := pt.pool(name); live == 0 {
			return nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	return errors.New("pool " + ns + "/" + name + ": pods left 2 minutes after its deletion")
}
