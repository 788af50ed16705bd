package autoscale

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Defaults of PullOptions.
const (
	DefaultPullInterval = 5 * time.Second
	DefaultPullBudget   = 0.5
)

// PullOptions configure pull mode: pools learn their jobs from the GitHub Apps' webhook
// delivery logs, read through GitHub's API, so Corral needs no inbound connection. It runs
// on the leader only, one reader per App, and only when CredentialsRefs name some.
type PullOptions struct {
	// CredentialsRefs name Secrets with an App's keys app-id and private-key (the log is
	// readable only with the App's JWT) and, optionally, ca.crt for a GHES private CA: one
	// per App whose installations' jobs are pulled.
	CredentialsRefs []types.NamespacedName
	// GitHubURL is the GitHub the Apps live on: https://github.com or https://GHES-HOST.
	GitHubURL string
	// Interval between two reads of a log: the latency it adds (half of it on average) and
	// one list request per read.
	Interval time.Duration
	// Budget is the share of an App's hourly request budget (its JWT's, which token mints
	// spend too) beyond which the reads stop until GitHub's window resets; in (0, 1].
	Budget float64
	// MaxAge is how far back a reader with no saved progress looks; at most
	// Options.CompletedTTL, as for the recovery.
	MaxAge time.Duration
	// MaxPages bounds the log pages (of 100 deliveries) read per cycle; 10 when 0.
	MaxPages int
}

// Enabled reports whether pull mode runs.
func (p PullOptions) Enabled() bool { return len(p.CredentialsRefs) > 0 }

func (p PullOptions) withDefaults(o Options) PullOptions {
	if p.GitHubURL == "" {
		p.GitHubURL = DefaultRecoveryURL
	}
	if p.Interval <= 0 {
		p.Interval = DefaultPullInterval
	}
	if p.Budget == 0 {
		p.Budget = DefaultPullBudget
	}
	if p.MaxAge <= 0 {
		p.MaxAge = min(DefaultRecoveryMaxAge, o.CompletedTTL)
	}
	if p.MaxPages <= 0 {
		p.MaxPages = 10
	}
	return p
}

func (p PullOptions) validate(o Options) error {
	if !p.Enabled() {
		return nil
	}
	var errs []error
	seen := map[types.NamespacedName]bool{}
	for _, ref := range p.CredentialsRefs {
		switch {
		case ref.Namespace == "":
			errs = append(errs, fmt.Errorf("pull credentials %q must be NAMESPACE/NAME", ref.Name))
		case seen[ref]:
			errs = append(errs, fmt.Errorf("pull credentials %s named twice", ref))
		case ref == o.Recovery.CredentialsRef:
			errs = append(errs, fmt.Errorf("pull credentials %s are also the recovery's: pull mode already takes every delivery of that App, drop --webhook-recovery-credentials", ref))
		}
		seen[ref] = true
	}
	if p.Interval < time.Second {
		errs = append(errs, fmt.Errorf("pull interval %s must be at least 1s: each read is a GitHub request", p.Interval))
	}
	if p.Budget <= 0 || p.Budget > 1 {
		errs = append(errs, fmt.Errorf("pull budget %v must be a share of the App's hourly limit in (0, 1]", p.Budget))
	}
	if p.MaxAge > o.CompletedTTL {
		errs = append(errs, fmt.Errorf("pull max age %s exceeds the completed TTL %s: a pulled event could resurrect a finished job", p.MaxAge, o.CompletedTTL))
	}
	return errors.Join(errs...)
}

// nameListFlag parses a repeated or comma-separated NAMESPACE/NAME flag.
type nameListFlag struct{ l *[]types.NamespacedName }

func (f nameListFlag) String() string {
	if f.l == nil {
		return ""
	}
	s := make([]string, len(*f.l))
	for i, n := range *f.l {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

func (f nameListFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		var n types.NamespacedName
		if err := (nameFlag{&n}).Set(part); err != nil {
			return err
		}
		*f.l = append(*f.l, n)
	}
	return nil
}
