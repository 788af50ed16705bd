// Command corral runs the Corral operator: the RunnerPool controller and the workflow_job
// webhook receiver, with their metrics and health endpoints. --components chooses what one
// process runs: both (the default), or each in its own Deployment so that the
// internet-facing receiver holds none of the controller's rights. `corral tun-device-plugin`
// runs the node's /dev/net/tun device plugin instead (internal/tunplugin).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/autoscale"
	"github.com/corral-run/corral/internal/controller"
	"github.com/corral-run/corral/internal/github"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	components    string
	metricsAddr   string
	probeAddr     string
	leaderElect   bool
	leaderElectNS string
	namespaces    string
	operatorNS    string
	pprofAddr     string
	showVersion   bool
	zap           zap.Options
	controller    controller.Options
	webhook       autoscale.Options
	github        github.FactoryOptions
}

func main() {
	maybeRunTunPlugin()
	var o options
	flag.StringVar(&o.components, "components", defaultComponents, "What this process runs, comma-separated: "+
		"controller (the RunnerPool reconciler and the webhook delivery recovery) and webhook (the GitHub webhook receiver, without leader election).")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz endpoints bind to.")
	flag.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader so that only one replica reconciles.")
	flag.StringVar(&o.leaderElectNS, "leader-election-namespace", "", "Namespace of the leader election lease (default: the operator's namespace).")
	flag.StringVar(&o.namespaces, "namespaces", "", "Comma-separated namespaces to watch for RunnerPools (default: all).")
	flag.StringVar(&o.operatorNS, "operator-namespace", os.Getenv("POD_NAMESPACE"), "The operator's namespace: credentials Secrets there may be shared with other namespaces (default: $POD_NAMESPACE).")
	flag.IntVar(&o.controller.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "RunnerPools reconciled in parallel.")
	flag.IntVar(&o.controller.CreateConcurrency, "runner-create-concurrency", controller.DefaultCreateConcurrency,
		"Runners of one pool created in parallel (each one JIT registration, a pod and a Secret); the GitHub pacer still bounds the rate.")
	flag.DurationVar(&o.controller.StatusInterval, "status-interval", controller.DefaultStatusInterval,
		"Least time between two writes of a pool's status that change only its counts: the status is written at most once per interval while runners come and go. Other changes are written at once.")
	flag.DurationVar(&o.controller.AuditRecheck, "audit-recheck", time.Minute,
		"How often audited pools look again for Tetragon's TracingPolicyNamespaced kind while it is missing, and write their policy again (a deleted or edited one comes back).")
	flag.BoolVar(&o.controller.JobEvents, "job-events", false,
		"Record an Event on each runner pod naming the job it took (one more Kubernetes write per runner). The pod's job labels and annotations are set either way.")
	flag.DurationVar(&o.controller.SweepInterval, "sweep-interval", 30*time.Minute, "How often each pool's GitHub registrations are compared with its pods when nothing else calls for it: a safety net. Pools are also swept after an operator restart and while orphan candidates wait out their grace.")
	flag.DurationVar(&o.controller.OrphanGrace, "orphan-grace", time.Minute, "How long a registration without a pod is left alone before the sweep removes it.")
	flag.DurationVar(&o.controller.PendingTimeout, "pending-timeout", 10*time.Minute, "How long a runner pod may stay pending before it is replaced.")
	flag.DurationVar(&o.controller.DrainTimeout, "drain-timeout", 10*time.Minute, "How long deletion waits for GitHub (busy runner, unusable credentials) before finalizers are released with a warning.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "Address Go's /debug/pprof endpoints bind to, e.g. 127.0.0.1:6060; \"0\" (the default) disables them. They show heap contents: never expose them.")
	flag.BoolVar(&o.showVersion, "version", false, "Print the version and exit.")
	flag.IntVar(&o.github.ContentCreatingPerMinute, "github-content-creating-per-minute", github.DefaultContentCreatingPerMinute,
		"JIT registrations each credential may make in any minute: Corral paces itself under GitHub's secondary limit (80) instead of hitting it.")
	flag.DurationVar(&o.github.PacedWait, "github-paced-wait", github.DefaultPacedWait,
		"Longest a paced registration waits in the call for a slot to free (a longer wait requeues the pool instead); negative: never wait.")
	o.webhook.BindFlags(flag.CommandLine)
	o.zap.BindFlags(flag.CommandLine)
	flag.Parse()

	if o.showVersion {
		fmt.Println(version)
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	if err := run(o); err != nil {
		ctrl.Log.Error(err, "corral exited")
		os.Exit(1)
	}
}

func run(o options) error {
	log := ctrl.Log.WithName("setup")
	comps, err := parseComponents(o.components)
	if err != nil {
		return err
	}
	o.webhook.OperatorNamespace = o.operatorNS
	if err := comps.check(o.webhook); err != nil {
		return err
	}
	if err := o.webhook.Validate(); err != nil {
		return fmt.Errorf("webhook options: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("registering Kubernetes types: %w", err)
	}
	if err := corralv1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("registering corral types: %w", err)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), managerOptions(o, comps, scheme))
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if comps.webhook {
		if err := autoscale.AddReceiver(mgr, o.webhook, ctrlmetrics.Registry); err != nil {
			return fmt.Errorf("setting up the webhook receiver: %w", err)
		}
	}
	if comps.controller {
		if err := setupController(mgr, o); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}

	log.Info("starting corral", "version", version, "components", comps.String())
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// setupController adds the RunnerPool controller and the webhook delivery recovery.
func setupController(mgr ctrl.Manager, o options) error {
	metrics, err := controller.NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering controller metrics: %w", err)
	}
	if err := autoscale.AddRecovery(mgr, o.webhook, ctrlmetrics.Registry); err != nil {
		return fmt.Errorf("setting up the webhook delivery recovery: %w", err)
	}
	if err := autoscale.AddPull(mgr, o.webhook, ctrlmetrics.Registry); err != nil {
		return fmt.Errorf("setting up the webhook pull: %w", err)
	}
	demandTTL := o.webhook.DemandTTL
	if err := (&controller.RunnerPoolReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Forges:            controller.GitHubForges{Factory: github.NewFactory(githubOptions(o.github))},
		Recorder:          mgr.GetEventRecorder("corral"),
		OperatorNamespace: o.operatorNS,
		Metrics:           metrics,
		DemandOf: func(pool *corralv1.RunnerPool, now time.Time) controller.Demand {
			d := autoscale.DemandOf(pool, now, demandTTL)
			return controller.Demand{Queued: d.Queued, BusyRunners: d.BusyRunners, QueuedSince: d.QueuedSince, Jobs: d.Jobs}
		},
		ObserveQueuedToPod: autoscale.NewMetrics(ctrlmetrics.Registry).ObserveQueuedToPod,
		Options:            o.controller,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the RunnerPool controller: %w", err)
	}
	if o.operatorNS == "" {
		ctrl.Log.WithName("setup").Info("no --operator-namespace (or POD_NAMESPACE): RunnerClasses cannot be used, their Secrets live there")
		return nil
	}
	if err := (&controller.RunnerClassReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), OperatorNamespace: o.operatorNS,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the RunnerClass controller: %w", err)
	}
	return nil
}

// githubOptions completes the GitHub client options from the flags.
func githubOptions(o github.FactoryOptions) github.FactoryOptions {
	o.Registerer = ctrlmetrics.Registry
	return o
}

// splitList splits a comma-separated flag value, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
