//go:build chaos

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/test/gen"
	"github.com/corral-run/corral/test/harness"
)

// namespace holds the pools, their credentials and their runner pods.
const namespace = "chaos"

// recoveryInterval is how often the leader reads the App's delivery log.
const recoveryInterval = 10 * time.Second

// leaseDuration is controller-runtime's default: how long a killed leader's Lease blocks
// the other replica.
const leaseDuration = 15 * time.Second

// poolSpec is one pool of the run.
type poolSpec struct {
	name                string
	minIdle, maxRunners int32
	share               float64 // of the jobs
}

// runPools are the pools of a run: two, with different sizes, sharing one GitHub App (one
// credential).
func runPools() []poolSpec {
	return []poolSpec{{name: "alpha", minIdle: 2, maxRunners: 6, share: 0.6}, {name: "beta", minIdle: 1, maxRunners: 4, share: 0.4}}
}

// environment is what the run started and watches.
type environment struct {
	cfg          config
	work         string
	log          *logger
	cluster      *harness.Cluster
	corralConfig string
	fake         *harness.FakeGitHub
	gh           *app.Client
	replicas     []*replica
	pods         *podWatch
	writes       *poolWatch
	leader       *leaderMonitor
	stopWatches  context.CancelFunc
}

func setUp(ctx context.Context, cfg config, work string, log *logger) (*environment, error) {
	e := &environment{cfg: cfg, work: work, log: log}
	return e, harness.RunSteps(ctx, log.logf,
		harness.Step{Name: "build corral (-tags failpoints) and fake-github", Run: e.build},
		harness.Step{Name: "start the cluster", Run: e.startCluster},
		harness.Step{Name: "install Corral", Run: e.install},
		harness.Step{Name: "start the fake GitHub", Run: e.startFake},
		harness.Step{Name: "start two corral replicas", Run: e.startReplicas},
		harness.Step{Name: "create the pools", Run: e.createPools},
	)
}

// tearDown stops what setUp started, in reverse order; the logs stay.
func (e *environment) tearDown() {
	if e.stopWatches != nil {
		e.stopWatches()
	}
	e.stopReplicas()
	e.fake.Stop()
	if err := e.cluster.Stop(); err != nil {
		e.log.logf("%v", err)
	}
}

func (e *environment) build(ctx context.Context) error {
	if err := harness.Build(ctx, filepath.Join(e.work, "bin", "fake-github"), "./cmd/fake-github"); err != nil {
		return err
	}
	return harness.Build(ctx, filepath.Join(e.work, "bin", "corral"), "./cmd/corral", "failpoints")
}

func (e *environment) startCluster(ctx context.Context) error {
	var err error
	e.cluster, err = harness.StartCluster(ctx, harness.ClusterOptions{
		Dir: filepath.Join(e.work, "cluster"), K8sBin: e.cfg.k8sBin, Install: true, QPS: 100, Burst: 200,
	})
	return err
}

func (e *environment) install(ctx context.Context) error {
	e.corralConfig = filepath.Join(e.work, "corral.kubeconfig")
	return harness.InstallCorral(ctx, e.cluster, e.corralConfig)
}

// startFake picks both replicas' ports (the fake delivers to both receivers), then starts
// the fake GitHub with its runner agent, small runner pages and relaxed secondary limits
// (faults, not limits, are this run's trouble), and applies its Secrets.
func (e *environment) startFake(ctx context.Context) error {
	args := []string{"--kubeconfig", e.cluster.Kubeconfig, "--namespace", namespace,
		"--job-duration", e.cfg.jobDuration.String(), "--dispatch-interval", "100ms",
		"--content-creating-per-minute", "5000", "--secondary-points", "100000",
		"--runners-per-page", strconv.Itoa(e.cfg.pageSize)}
	for i := range 2 {
		c, err := harness.NewCorral(harness.CorralOptions{
			Name: fmt.Sprintf("corral-%d", i), Bin: filepath.Join(e.work, "bin", "corral"), Kubeconfig: e.corralConfig,
			LogDir: filepath.Join(e.work, "logs"), LeaderElect: true, Env: []string{"CORRAL_FAILPOINTS=" + e.cfg.failpoints},
		})
		if err != nil {
			return err
		}
		e.replicas = append(e.replicas, newReplica(c, e.log))
		args = append(args, "--webhook-url", c.WebhookURL())
	}
	var err error
	e.fake, err = harness.StartFakeGitHub(harness.FakeOptions{Bin: filepath.Join(e.work, "bin", "fake-github"),
		Dir: filepath.Join(e.work, "fake-github"), LogDir: filepath.Join(e.work, "logs"), Args: args})
	if err != nil {
		return err
	}
	e.gh = e.fake.Client
	if _, err := e.cluster.Kubectl(ctx, "create", "namespace", namespace); err != nil {
		return err
	}
	if err := e.fake.ApplyCredentials(ctx, e.cluster, namespace); err != nil {
		return err
	}
	if _, err := e.cluster.Kubectl(ctx, "apply", "-n", harness.OperatorNamespace, "-f", e.fake.Info.RecoveryCredentialsManifest); err != nil {
		return err
	}
	return e.fake.ApplyWebhookSecret(ctx, e.cluster)
}

// startReplicas starts the watches (before any pool exists), both replicas under
// supervision (restarted whenever they exit) and the leader monitor.
func (e *environment) startReplicas(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.Background())
	e.stopWatches = cancel
	var err error
	if e.pods, err = watchPods(wctx, e.cluster.Client); err != nil {
		return err
	}
	if e.writes, err = watchPools(wctx, e.cluster.Client); err != nil {
		return err
	}
	info := e.fake.Info
	for _, r := range e.replicas {
		r.c.Options.WebhookSecret = info.WebhookSecretName
		r.c.Options.Args = []string{
			"--sweep-interval", e.cfg.sweep.String(), "--orphan-grace", e.cfg.orphanGrace.String(), "--zap-log-level", "info",
			"--webhook-recovery-credentials", harness.OperatorNamespace + "/" + info.RecoverySecretName,
			"--webhook-recovery-github-url", info.URL, "--webhook-recovery-interval", recoveryInterval.String(),
		}
		go r.supervise()
	}
	e.leader = newLeaderMonitor(e.replicas, e.cluster.Client)
	go e.leader.run(wctx)
	return waitFor(ctx, 2*time.Minute, "both replicas ready and one of them leading", func() (bool, error) {
		return e.replicas[0].ready() && e.replicas[1].ready() && e.leader.current() >= 0, nil
	})
}

func (e *environment) createPools(ctx context.Context) error {
	for _, p := range e.cfg.pools {
		pool := e.fake.Pool(namespace, p.name, gen.WithLabels(labelsOf(p.name)[2]),
			gen.WithMinIdle(p.minIdle), gen.WithMaxRunners(p.maxRunners))
		if err := e.cluster.Client.Create(ctx, pool); err != nil {
			return fmt.Errorf("creating pool %s: %w", p.name, err)
		}
	}
	return nil
}

// warmUp waits, before any chaos, until every pool runs its minIdle runners.
func (e *environment) warmUp(ctx context.Context) error {
	e.log.logf("waiting for the pools' warm runners")
	return waitFor(ctx, 3*time.Minute, "every pool running its minIdle runners", func() (bool, error) {
		for _, p := range e.cfg.pools {
			n, err := e.runningPods(ctx, p.name)
			if err != nil || n < int(p.minIdle) {
				return false, nil
			}
		}
		return true, nil
	})
}

// runningPods counts the pool's runner pods that run and are not being deleted.
func (e *environment) runningPods(ctx context.Context, pool string) (int, error) {
	pods := &corev1.PodList{}
	if err := e.cluster.Client.List(ctx, pods, client.InNamespace(namespace),
		client.MatchingLabels{corralv1.LabelPool: pool, corralv1.LabelComponent: corralv1.ComponentRunner}); err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			n++
		}
	}
	return n, nil
}

// stopReplicas stops the supervision and both replicas (SIGTERM), once.
func (e *environment) stopReplicas() {
	for _, r := range e.replicas {
		r.stop()
	}
}

// waitFor polls check every second until it is true, fails or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not %s after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
