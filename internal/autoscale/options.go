package autoscale

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// FieldManager is the server-side-apply field manager under which the webhook receiver
// writes status.demand. The reconciler uses another and never writes status.demand.
const FieldManager = "corral-webhook"

// SecretKeyPrefix names the keys of the webhook Secret that hold accepted secrets: every key
// equal to it or starting with it ("webhook-secret", "webhook-secret-next", ...) is one. A
// single trailing newline of a value is ignored.
const SecretKeyPrefix = "webhook-secret"

// githubTimeout is how long GitHub waits for the answer to a delivery.
const githubTimeout = 10 * time.Second

// Defaults of Options.
const (
	DefaultBindAddress      = ":8082"
	DefaultPath             = "/webhook"
	DefaultMaxBodyBytes     = 1 << 20
	DefaultDemandTTL        = 24 * time.Hour
	DefaultCompletedTTL     = 3 * time.Hour
	DefaultQueueSize        = 10000
	DefaultWorkers          = 4
	DefaultCommitInterval   = 50 * time.Millisecond
	DefaultCommitTimeout    = 8 * time.Second
	DefaultCompletionLinger = time.Second
	DefaultRecoveryInterval = 2 * time.Minute
	DefaultRecoveryMaxAge   = time.Hour
	DefaultRecoveryURL      = "https://github.com"
)

// MaxDemandTTL bounds DemandTTL, and so the life of a running entry (a busy runner claimed
// by an in_progress delivery): GitHub ends a job on a self-hosted runner after at most 5
// days (its job execution time limit), so no genuine claim outlives it.
const MaxDemandTTL = 5 * 24 * time.Hour

// RecoveryMode is how failed deliveries found in the App's delivery log are recovered.
type RecoveryMode string

const (
	// RecoveryReplay fetches the failed delivery's payload through the API and applies it
	// locally: it works even when GitHub cannot reach the endpoint (the usual reason a
	// delivery failed). The default.
	RecoveryReplay RecoveryMode = "replay"
	// RecoveryRedeliver asks GitHub to send the delivery again to the webhook URL.
	RecoveryRedeliver RecoveryMode = "redeliver"
)

// RecoveryOptions configure the recovery of missed deliveries from a GitHub App's webhook
// delivery log. It runs on the leader only, and only when CredentialsRef is set.
type RecoveryOptions struct {
	// CredentialsRef names a Secret with the App's keys app-id and private-key (the log is
	// readable only with the App's JWT) and, optionally, ca.crt for a GHES private CA.
	CredentialsRef types.NamespacedName
	// GitHubURL is the GitHub the App lives on: https://github.com or https://GHES-HOST.
	GitHubURL string
	// Interval between two reads of the delivery log.
	Interval time.Duration
	// MaxAge is how far back failed deliveries are recovered. It must not exceed
	// Options.CompletedTTL, or a replayed "queued" could outlive its job's completion.
	MaxAge time.Duration
	// Mode is replay (default) or redeliver.
	Mode RecoveryMode
	// MaxPages bounds the log pages (of 100 deliveries) read per cycle; 10 when 0.
	MaxPages int
}

// Enabled reports whether the recovery loop runs.
func (r RecoveryOptions) Enabled() bool { return r.CredentialsRef.Name != "" }

// Options configure the webhook receiver. Set them with BindFlags or directly; the zero
// value of a field means its default.
type Options struct {
	// BindAddress is where the webhook server listens, e.g. ":8082"; "0" disables it.
	BindAddress string
	// Path is the URL path deliveries are POSTed to.
	Path string
	// SecretRef names the Secret whose SecretKeyPrefix keys hold the accepted webhook
	// secrets (several during a rotation). Empty disables the receiver.
	SecretRef types.NamespacedName
	// MaxBodyBytes caps a delivery's body; larger ones get 413.
	MaxBodyBytes int64
	// DemandTTL expires a job with no news for this long (it stops counting as demand or
	// as a busy runner). GitHub fails a job queued for 24 h, the default. A running entry
	// gets no news until its job completes (a repeated in_progress is not news), so it
	// lives at most DemandTTL after its in_progress was received; at most MaxDemandTTL.
	DemandTTL time.Duration
	// CompletedTTL is how long a completed job is remembered, so late or redelivered events
	// cannot resurrect it.
	CompletedTTL time.Duration
	// QueueSize bounds the deliveries waiting for the write that records them; beyond it
	// deliveries get 503 (and are recovered from the delivery log).
	QueueSize int
	// Workers bounds the pools whose demand is written at once (each pool has at most one
	// write in flight).
	Workers int
	// CommitInterval is the least time between the starts of two writes of one pool's
	// demand: deliveries arriving meanwhile wait and share the next write (group commit).
	// The first write after a quiet spell starts at once. Negative: no pause at all.
	CommitInterval time.Duration
	// CompletionLinger is how long a completed delivery may wait for a write of its pool
	// that other deliveries call for before it gets one of its own: completions change no
	// runner count, and sharing writes saves a third of a pool's demand writes at low job
	// rates. Negative: none. Under CommitTimeout; unset, at most half of it.
	CompletionLinger time.Duration
	// CommitTimeout bounds how long a delivery waits for the write that records it before
	// it is answered 503; under GitHub's 10 s.
	CommitTimeout time.Duration
	// Recovery configures the recovery of missed deliveries.
	Recovery RecoveryOptions
	// Pull configures pull mode, demand read from the Apps' delivery logs.
	Pull PullOptions
	// OperatorNamespace holds the RunnerClasses' webhook and credentials Secrets; empty
	// means SecretRef's namespace. Not a flag of its own: cmd/corral passes its
	// --operator-namespace.
	OperatorNamespace string
}

// Enabled reports whether the webhook receiver runs.
func (o Options) Enabled() bool { return o.SecretRef.Name != "" && o.BindAddress != "0" }

// classSecretNamespace is where the RunnerClasses' Secrets are read.
func (o Options) classSecretNamespace() string {
	if o.OperatorNamespace != "" {
		return o.OperatorNamespace
	}
	return o.SecretRef.Namespace
}

// BindFlags registers the receiver's flags (all prefixed webhook-) on fs, with the
// current values of o as defaults where set and the package defaults otherwise.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	*o = o.withDefaults()
	fs.StringVar(&o.BindAddress, "webhook-bind-address", o.BindAddress, "Address the GitHub webhook receiver binds to; \"0\" disables it.")
	fs.StringVar(&o.Path, "webhook-path", o.Path, "URL path GitHub webhook deliveries are POSTed to.")
	fs.Var(nameFlag{&o.SecretRef}, "webhook-secret", "NAMESPACE/NAME of the Secret holding the webhook secret(s) in keys "+
		SecretKeyPrefix+"*; empty disables the webhook receiver.")
	fs.Int64Var(&o.MaxBodyBytes, "webhook-max-body-bytes", o.MaxBodyBytes, "Largest webhook delivery body accepted.")
	fs.DurationVar(&o.DemandTTL, "webhook-demand-ttl", o.DemandTTL, "A job with no news for this long stops counting as demand.")
	fs.DurationVar(&o.CompletedTTL, "webhook-completed-ttl", o.CompletedTTL, "How long completed jobs are remembered to reject late or redelivered events.")
	fs.IntVar(&o.QueueSize, "webhook-queue-size", o.QueueSize, "Deliveries waiting for the write that records them, at most; more get 503.")
	fs.IntVar(&o.Workers, "webhook-workers", o.Workers, "Pools whose demand is written at once.")
	fs.DurationVar(&o.CommitInterval, "webhook-commit-interval", o.CommitInterval, "Least time between two writes of one pool's demand; "+
		"deliveries arriving meanwhile share the next write. Negative: none.")
	fs.DurationVar(&o.CompletionLinger, "webhook-completion-linger", o.CompletionLinger, "How long a completed job's delivery may wait to share a write of its pool's demand "+
		"with deliveries that need one at once (queued, in_progress); it is answered once written. Negative: none.")
	fs.DurationVar(&o.CommitTimeout, "webhook-commit-timeout", o.CommitTimeout, "How long a delivery waits for the write that records it before it is answered 503 (under 10s).")
	fs.Var(nameFlag{&o.Recovery.CredentialsRef}, "webhook-recovery-credentials", "NAMESPACE/NAME of a GitHub App credentials Secret "+
		"(app-id, private-key) whose webhook delivery log is read to recover failed workflow_job deliveries; empty disables recovery.")
	fs.StringVar(&o.Recovery.GitHubURL, "webhook-recovery-github-url", o.Recovery.GitHubURL, "GitHub the recovery App lives on: https://github.com or https://GHES-HOST.")
	fs.DurationVar(&o.Recovery.Interval, "webhook-recovery-interval", o.Recovery.Interval, "Interval between two reads of the App's delivery log.")
	fs.DurationVar(&o.Recovery.MaxAge, "webhook-recovery-max-age", o.Recovery.MaxAge, "Failed deliveries older than this are not recovered; at most --webhook-completed-ttl.")
	fs.Var(modeFlag{&o.Recovery.Mode}, "webhook-recovery-mode", "How failed deliveries are recovered: replay (apply the logged payload locally) or redeliver (ask GitHub to send it again).")
	fs.Var(nameListFlag{&o.Pull.CredentialsRefs}, "webhook-pull-credentials", "NAMESPACE/NAME of a GitHub App credentials Secret (app-id, private-key) "+
		"whose webhook delivery log is read for every workflow_job event (pull mode: no inbound connection); repeat it or separate with commas for several Apps.")
	fs.StringVar(&o.Pull.GitHubURL, "webhook-pull-github-url", o.Pull.GitHubURL, "GitHub the pulled Apps live on: https://github.com or https://GHES-HOST.")
	fs.DurationVar(&o.Pull.Interval, "webhook-pull-interval", o.Pull.Interval, "Interval between two reads of each pulled App's delivery log (one request each, at least 1s).")
	fs.Float64Var(&o.Pull.Budget, "webhook-pull-budget", o.Pull.Budget, "Share of each pulled App's hourly GitHub request budget the reads may use before they wait for GitHub's window to reset, in (0, 1].")
	fs.DurationVar(&o.Pull.MaxAge, "webhook-pull-max-age", o.Pull.MaxAge, "How far back a pull with no saved progress reads the log; at most --webhook-completed-ttl.")
}

// withDefaults fills unset fields with the package defaults.
func (o Options) withDefaults() Options {
	if o.BindAddress == "" {
		o.BindAddress = DefaultBindAddress
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.DemandTTL <= 0 {
		o.DemandTTL = DefaultDemandTTL
	}
	if o.CompletedTTL <= 0 {
		o.CompletedTTL = DefaultCompletedTTL
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = DefaultCommitTimeout
	}
	if o.CompletionLinger == 0 { // at most half the commit timeout, which may be short
		o.CompletionLinger = min(DefaultCompletionLinger, o.CommitTimeout/2)
	}
	r := &o.Recovery
	if r.GitHubURL == "" {
		r.GitHubURL = DefaultRecoveryURL
	}
	if r.Interval <= 0 {
		r.Interval = DefaultRecoveryInterval
	}
	if r.MaxAge <= 0 {
		r.MaxAge = min(DefaultRecoveryMaxAge, o.CompletedTTL)
	}
	if r.Mode == "" {
		r.Mode = RecoveryReplay
	}
	if r.MaxPages <= 0 {
		r.MaxPages = 10
	}
	o.Pull = o.Pull.withDefaults(o)
	return o
}

// Validate rejects options that cannot work (with the defaults filled in), whichever
// component uses them: the controller reads demand with DemandTTL too.
func (o Options) Validate() error { return o.withDefaults().validate() }

// validate rejects options that cannot work, after withDefaults.
func (o Options) validate() error {
	var errs []error
	if !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, fmt.Errorf("webhook path %q must start with /", o.Path))
	}
	if o.DemandTTL > MaxDemandTTL {
		errs = append(errs, fmt.Errorf("demand TTL %s exceeds %s (GitHub's longest job): a forged in_progress could keep a runner busy that long", o.DemandTTL, MaxDemandTTL))
	}
	if o.CommitTimeout >= githubTimeout {
		errs = append(errs, fmt.Errorf("commit timeout %s must be under %s, or GitHub gives up on every slow delivery first", o.CommitTimeout, githubTimeout))
	}
	if o.CompletionLinger >= o.CommitTimeout {
		errs = append(errs, fmt.Errorf("completion linger %s must be under the commit timeout %s, or a lone completion is answered 503", o.CompletionLinger, o.CommitTimeout))
	}
	if o.SecretRef.Name != "" && o.SecretRef.Namespace == "" {
		errs = append(errs, fmt.Errorf("webhook secret %q must be NAMESPACE/NAME", o.SecretRef.Name))
	}
	if o.Recovery.Enabled() {
		if o.Recovery.CredentialsRef.Namespace == "" {
			errs = append(errs, fmt.Errorf("recovery credentials %q must be NAMESPACE/NAME", o.Recovery.CredentialsRef.Name))
		}
		if o.Recovery.MaxAge > o.CompletedTTL {
			errs = append(errs, fmt.Errorf("recovery max age %s exceeds the completed TTL %s: a replayed event could resurrect a finished job",
				o.Recovery.MaxAge, o.CompletedTTL))
		}
		if o.Recovery.Mode != RecoveryReplay && o.Recovery.Mode != RecoveryRedeliver {
			errs = append(errs, fmt.Errorf("recovery mode %q must be %s or %s", o.Recovery.Mode, RecoveryReplay, RecoveryRedeliver))
		}
	}
	if err := o.Pull.validate(o); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// policy is the bookkeeping rule of status.demand.
func (o Options) policy() Policy {
	return Policy{DemandTTL: o.DemandTTL, CompletedTTL: o.CompletedTTL, MaxJobs: corralv1.MaxTrackedJobs}
}

// nameFlag parses NAMESPACE/NAME into a NamespacedName.
type nameFlag struct{ n *types.NamespacedName }

func (f nameFlag) String() string {
	if f.n == nil || f.n.Name == "" {
		return ""
	}
	return f.n.String()
}

func (f nameFlag) Set(v string) error {
	if v == "" {
		*f.n = types.NamespacedName{}
		return nil
	}
	ns, name, ok := strings.Cut(v, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return fmt.Errorf("%q is not NAMESPACE/NAME", v)
	}
	*f.n = types.NamespacedName{Namespace: ns, Name: name}
	return nil
}

// modeFlag parses a RecoveryMode.
type modeFlag struct{ m *RecoveryMode }

func (f modeFlag) String() string {
	if f.m == nil {
		return ""
	}
	return string(*f.m)
}

func (f modeFlag) Set(v string) error {
	switch m := RecoveryMode(strings.ToLower(v)); m {
	case RecoveryReplay, RecoveryRedeliver:
		*f.m = m
		return nil
	}
	return fmt.Errorf("%q is not %s or %s", v, RecoveryReplay, RecoveryRedeliver)
}
