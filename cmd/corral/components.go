package main

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/corral-run/corral/internal/autoscale"
	"github.com/corral-run/corral/internal/controller"
)

// Components a process can run (--components).
const (
	// componentController is the RunnerPool reconciler and the webhook delivery recovery
	// (which needs a GitHub App's credentials).
	componentController = "controller"
	// componentWebhook is the internet-facing workflow_job webhook receiver.
	componentWebhook = "webhook"
)

// defaultComponents runs everything in one process, as `make run` and the demo do.
const defaultComponents = componentController + "," + componentWebhook

// components says what one process runs.
type components struct {
	controller bool
	webhook    bool
}

// parseComponents reads a --components value: a comma-separated, non-empty subset of
// controller and webhook.
func parseComponents(s string) (components, error) {
	var c components
	for _, item := range splitList(s) {
		switch strings.ToLower(item) {
		case componentController:
			c.controller = true
		case componentWebhook:
			c.webhook = true
		default:
			return components{}, fmt.Errorf("--components: unknown component %q (want %s or %s)", item, componentController, componentWebhook)
		}
	}
	if !c.controller && !c.webhook {
		return components{}, fmt.Errorf("--components: name at least one of %s and %s", componentController, componentWebhook)
	}
	return c, nil
}

// check rejects a process that would run nothing useful: the webhook component alone
// without a webhook receiver configured.
func (c components) check(webhook autoscale.Options) error {
	if c.webhook && !c.controller && !webhook.Enabled() {
		return fmt.Errorf("--components=%s needs --webhook-secret (and a --webhook-bind-address other than 0)", componentWebhook)
	}
	return nil
}

// String lists the components, for the log.
func (c components) String() string {
	var out []string
	if c.controller {
		out = append(out, componentController)
	}
	if c.webhook {
		out = append(out, componentWebhook)
	}
	return strings.Join(out, ",")
}

// managerOptions are the manager's options for what the process runs. The webhook
// receiver alone needs no leader election (every replica serves deliveries) and caches
// only what it reads: RunnerPools and RunnerClasses. Reads of Secrets, ConfigMaps and
// pods never start an informer there (they go to the API server, where its RBAC refuses
// all but the Secrets it names), so it never lists or watches them. Pure.
func managerOptions(o options, c components, scheme *runtime.Scheme) ctrl.Options {
	cacheOpts := cache.Options{}
	if c.controller {
		cacheOpts.ByObject = controller.CacheByObject(o.operatorNS)
		cacheOpts.DefaultTransform = controller.DefaultTransform()
	}
	if ns := splitList(o.namespaces); len(ns) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range ns {
			cacheOpts.DefaultNamespaces[n] = cache.Config{}
		}
	}
	opts := ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect && c.controller,
		LeaderElectionID:        "corral.corral.run",
		LeaderElectionNamespace: o.leaderElectNS,
	}
	if !c.controller {
		opts.Client = client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Pod{}},
		}}
	}
	return opts
}
