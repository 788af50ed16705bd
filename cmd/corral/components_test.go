package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/corral-run/corral/internal/autoscale"
)

func TestParseComponents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want components
		ok   bool
	}{
		{defaultComponents, components{controller: true, webhook: true}, true},
		{"controller", components{controller: true}, true},
		{" webhook ", components{webhook: true}, true},
		{"Webhook,controller", components{controller: true, webhook: true}, true},
		{"", components{}, false},
		{",", components{}, false},
		{"controller,recovery", components{}, false},
	} {
		got, err := parseComponents(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("parseComponents(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestComponentsCheck(t *testing.T) {
	receiver := autoscale.Options{SecretRef: types.NamespacedName{Namespace: "corral-system", Name: "corral-webhook"}}
	for _, tc := range []struct {
		name string
		c    components
		opts autoscale.Options
		ok   bool
	}{
		{"both without a webhook secret: the controller alone, as make run does", components{controller: true, webhook: true}, autoscale.Options{}, true},
		{"the receiver alone needs its secret", components{webhook: true}, autoscale.Options{}, false},
		{"the receiver alone with its secret", components{webhook: true}, receiver, true},
		{"the receiver alone, switched off", components{webhook: true}, autoscale.Options{SecretRef: receiver.SecretRef, BindAddress: "0"}, false},
	} {
		if err := tc.c.check(tc.opts); (err == nil) != tc.ok {
			t.Errorf("%s: check = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestManagerOptions: the receiver alone elects no leader and never caches Secrets,
// ConfigMaps or pods; the controller keeps its cache restrictions and leader election.
func TestManagerOptions(t *testing.T) {
	o := options{leaderElect: true, namespaces: "ci, build", metricsAddr: ":8080", probeAddr: ":8081"}
	scheme := runtime.NewScheme()

	web := managerOptions(o, components{webhook: true}, scheme)
	if web.LeaderElection {
		t.Error("the webhook receiver alone elects a leader")
	}
	if len(web.Cache.ByObject) != 0 {
		t.Errorf("the webhook receiver alone has the controller's cache settings: %v", web.Cache.ByObject)
	}
	if web.Client.Cache == nil || len(web.Client.Cache.DisableFor) != 3 {
		t.Fatalf("the webhook receiver alone may cache Secrets, ConfigMaps or pods: %+v", web.Client.Cache)
	}
	if _, ok := web.Client.Cache.DisableFor[0].(*corev1.Secret); !ok {
		t.Errorf("Secrets are not read around the cache: %T", web.Client.Cache.DisableFor[0])
	}
	if len(web.Cache.DefaultNamespaces) != 2 {
		t.Errorf("--namespaces not applied to the receiver's cache: %v", web.Cache.DefaultNamespaces)
	}

	for _, c := range []components{{controller: true}, {controller: true, webhook: true}} {
		got := managerOptions(o, c, scheme)
		if !got.LeaderElection || len(got.Cache.ByObject) == 0 || got.Client.Cache != nil {
			t.Errorf("%s: leader election %v, cache by object %d, client cache %+v", c, got.LeaderElection, len(got.Cache.ByObject), got.Client.Cache)
		}
	}
	o.leaderElect = false
	if managerOptions(o, components{controller: true}, scheme).LeaderElection {
		t.Error("--leader-elect=false ignored")
	}
}
