package autoscale

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestBindFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("corral", flag.ContinueOnError)
	o.BindFlags(fs)
	if o.Enabled() || o.BindAddress != DefaultBindAddress || o.DemandTTL != DefaultDemandTTL || o.Recovery.Mode != RecoveryReplay {
		t.Fatalf("defaults = %+v", o)
	}
	err := fs.Parse([]string{
		"--webhook-bind-address=:9000", "--webhook-path=/hooks/github", "--webhook-secret=corral-system/webhook",
		"--webhook-max-body-bytes=2048", "--webhook-demand-ttl=2h", "--webhook-completed-ttl=4h", "--webhook-queue-size=50",
		"--webhook-workers=2", "--webhook-commit-interval=-1ns", "--webhook-commit-timeout=5s", "--webhook-completion-linger=2s", "--webhook-recovery-credentials=corral-system/app", "--webhook-recovery-github-url=https://ghes.example.com",
		"--webhook-recovery-interval=1m", "--webhook-recovery-max-age=30m", "--webhook-recovery-mode=redeliver",
		"--webhook-pull-credentials=corral-system/pulled-a,corral-system/pulled-b", "--webhook-pull-credentials=other/pulled-c",
		"--webhook-pull-github-url=https://ghes.example.com", "--webhook-pull-interval=10s", "--webhook-pull-budget=0.25", "--webhook-pull-max-age=20m",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		BindAddress: ":9000", Path: "/hooks/github", SecretRef: types.NamespacedName{Namespace: "corral-system", Name: "webhook"},
		MaxBodyBytes: 2048, DemandTTL: 2 * time.Hour, CompletedTTL: 4 * time.Hour, QueueSize: 50, Workers: 2,
		CommitInterval: -1, CommitTimeout: 5 * time.Second, CompletionLinger: 2 * time.Second,
		Recovery: RecoveryOptions{
			CredentialsRef: types.NamespacedName{Namespace: "corral-system", Name: "app"}, GitHubURL: "https://ghes.example.com",
			Interval: time.Minute, MaxAge: 30 * time.Minute, Mode: RecoveryRedeliver, MaxPages: 10,
		},
		Pull: PullOptions{
			CredentialsRefs: []types.NamespacedName{
				{Namespace: "corral-system", Name: "pulled-a"}, {Namespace: "corral-system", Name: "pulled-b"}, {Namespace: "other", Name: "pulled-c"},
			},
			GitHubURL: "https://ghes.example.com", Interval: 10 * time.Second, Budget: 0.25, MaxAge: 20 * time.Minute, MaxPages: 10,
		},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("parsed = %+v\nwant     %+v", o, want)
	}
	if !o.Enabled() || !o.Recovery.Enabled() || o.validate() != nil {
		t.Errorf("parsed options not enabled or invalid: %v", o.validate())
	}
	for _, bad := range []string{"--webhook-secret=noslash", "--webhook-secret=Bad_NS/x", "--webhook-recovery-mode=carrier-pigeon", "--webhook-pull-credentials=noslash"} {
		var o Options
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		o.BindFlags(fs)
		if fs.Parse([]string{bad}) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	base := Options{SecretRef: types.NamespacedName{Namespace: "ns", Name: "s"}}.withDefaults()
	if err := base.validate(); err != nil {
		t.Fatalf("defaults with a secret: %v", err)
	}
	cases := map[string]func(*Options){
		"relative path":                                  func(o *Options) { o.Path = "webhook" },
		"secret without namespace":                       func(o *Options) { o.SecretRef.Namespace = "" },
		"commit timeout past GitHub's patience":          func(o *Options) { o.CommitTimeout = 10 * time.Second },
		"running entries outliving GitHub's longest job": func(o *Options) { o.DemandTTL = MaxDemandTTL + time.Hour },
		"recovery outlives completed jobs": func(o *Options) {
			o.Recovery.CredentialsRef = types.NamespacedName{Namespace: "ns", Name: "app"}
			o.Recovery.MaxAge = o.CompletedTTL + time.Minute
		},
	}
	for name, mutate := range cases {
		o := base
		mutate(&o)
		if err := o.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if base.CommitInterval != DefaultCommitInterval || base.CommitTimeout != DefaultCommitTimeout {
		t.Errorf("commit defaults = %s, %s", base.CommitInterval, base.CommitTimeout)
	}
	if (Options{SecretRef: base.SecretRef, BindAddress: "0"}).Enabled() {
		t.Error(`bind address "0" does not disable the receiver`)
	}
}
