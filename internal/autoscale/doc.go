// Package autoscale turns GitHub `workflow_job` webhook deliveries into the demand of
// RunnerPools.
//
// Every replica of the receiver serves the webhook endpoint (its own port and path; its own
// Deployment with cmd/corral --components=webhook, see AddReceiver). A delivery is
// verified (HMAC-SHA256 of the raw body, X-Hub-Signature-256) against every secret that
// may vouch for deliveries: the global secrets (--webhook-secret), which vouch for
// class-less pools, and each RunnerClass's webhookSecretRef, which vouches for the class's
// pools and only for jobs the class serves (its host and organizations, repositories or
// enterprises; through a GitHub App, only its installation: vouch.go). A delivery nobody
// may vouch for is refused (401) before anything is routed. It is then parsed (JSON or
// form-encoded), deduplicated (X-GitHub-Delivery and job state, per voucher) and matched
// to its pool among the pools of those who vouched for it (its runs-on labels against the
// pool's labels plus the implicit ones, its repository against the pool's scope; see
// RunnerLabels and docs/autoscaling.md) against the manager's cache: a pool of another
// class never takes the job, whatever scope it claims, and no runner of it is marked busy.
// Then it is recorded in the pool's status.demand, and only
// then answered 202: GitHub logs a 2xx as a success and never offers it to the delivery
// recovery again, so an acknowledged delivery must be in the API server. A failed or slow
// write (past Options.CommitTimeout, under GitHub's 10 s) or a full backlog answers 503,
// so GitHub records the delivery as failed and the recovery can bring it back: work is
// never dropped silently. A job no pool matches is answered 200.
//
// Writes go through a group committer (commit.go): per pool at most one write is in
// flight, and the deliveries arriving meanwhile share the next one, at least
// Options.CommitInterval after the previous. The store (store.go) writes status.demand,
// the demand store shared by every replica: a server-side apply under the field manager
// corral-webhook with the pool's resourceVersion as a precondition, retried on conflict, so
// concurrent replicas lose no update. status.demand is compact (api/v1alpha1.PoolDemand: a
// few space-separated strings, about 20 bytes a job, at most 2,000 jobs): queued jobs,
// running jobs with the suffix of the pool's runner that took them, and tombstones of jobs
// done, so late or redelivered events cannot resurrect them. A job's state only moves
// forward; entries with no news expire. The reconciler reads the demand with DemandOf and
// never writes status.demand.
//
// A running entry (a busy runner) gets no news until its job completes, so it lives at most
// Options.DemandTTL (at most MaxDemandTTL) after its in_progress was received.
//
// With GitHub App credentials configured, the controller's leader periodically reads the
// App's webhook delivery log and replays (through a committer of its own) or asks GitHub to
// redeliver the workflow_job deliveries that failed, e.g. while Corral was down
// (AddRecovery). A replay comes from GitHub itself: it reaches the pools of the classes
// that serve its job, or class-less pools when none does.
package autoscale
