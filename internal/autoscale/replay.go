package autoscale

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
)

// replayResult is what became of a delivery taken from the App's log.
type replayResult int

const (
	// replayed: its event is in the demand store.
	replayed replayResult = iota
	// replayIgnored: not a usable workflow_job event; nothing to do, ever.
	replayIgnored
	// replayFailed: try again later.
	replayFailed
	// replayGone: GitHub no longer has the payload (404): trying again would fail again.
	replayGone
)

// replayer applies deliveries taken from the App's delivery log to the demand store: it
// fetches the payload, routes the event to the pools of the classes that serve its job
// (vouchReplay: GitHub's own log vouches for it, no secret does) and records it through
// the same recorder (and group commit) as the webhook handler. Both the recovery of failed
// deliveries and pull mode use it.
type replayer struct {
	// classes lists the RunnerClasses that may vouch for a replayed delivery (vouchReplay).
	classes client.Reader
	events  eventRecorder
	timeout time.Duration // bounds the wait for one replayed delivery's write
	metrics *Metrics
	now     func() time.Time
}

// appLog keeps the delivery log client of an App's credentials Secret (its keys, and
// ca.crt for a GHES private CA), built again when the Secret changed. The recovery and
// pull mode read the log through it.
type appLog struct {
	ref     types.NamespacedName
	what    string // whose credentials, for errors: "recovery", "pull"
	secrets client.Reader
	newLog  func(src github.CredentialSource, conn github.ConnOptions) (deliveryLog, error)

	log   deliveryLog
	rv    string
	appID string // the Secret's app-id when log was built
}

func newAppLog(ref types.NamespacedName, what string, secrets client.Reader, githubURL string, reg prometheus.Registerer) appLog {
	return appLog{ref: ref, what: what, secrets: secrets,
		newLog: func(src github.CredentialSource, conn github.ConnOptions) (deliveryLog, error) {
			return github.NewAppClient(src, githubURL, github.AppClientOptions{Registerer: reg, Conn: conn})
		}}
}

// client returns the delivery log client, rebuilt when the credentials Secret changed.
func (a *appLog) client(ctx context.Context) (deliveryLog, error) {
	var s corev1.Secret
	if err := a.secrets.Get(ctx, a.ref, &s); err != nil {
		return nil, fmt.Errorf("reading %s credentials Secret %s: %w", a.what, a.ref, err)
	}
	if a.log != nil && s.ResourceVersion == a.rv {
		return a.log, nil
	}
	src := github.CredentialSource{Key: a.ref.String(), ResourceVersion: s.ResourceVersion, Data: s.Data}
	lg, err := a.newLog(src, github.ConnOptions{CABundle: s.Data[KeyCABundle]})
	if err != nil {
		return nil, err
	}
	a.log, a.rv, a.appID = lg, s.ResourceVersion, strings.TrimSpace(string(s.Data[github.KeyAppID]))
	return lg, nil
}

// replay fetches d's payload and records its event. stop: end this cycle (GitHub or the
// demand store is failing; the rest waits for the next one).
func (p *replayer) replay(ctx context.Context, lg deliveryLog, d github.HookDelivery) (res replayResult, stop bool) {
	logger := log.FromContext(ctx).WithValues("delivery", d.GUID, "action", d.Action)
	detail, err := lg.GetHookDelivery(ctx, d.ID)
	if err != nil {
		logger.Error(err, "fetching a delivery from the App's log")
		if errors.Is(err, github.ErrNotFound) {
			return replayGone, false
		}
		return replayFailed, github.IsRetryable(err)
	}
	ev, known, err := parseWorkflowJob(detail.Payload)
	if err != nil || !known {
		logger.V(1).Info("logged delivery is not a usable workflow_job event", "error", err)
		return replayIgnored, false
	}
	// The event happened when GitHub first tried to deliver it, not now.
	ev.Delivery, ev.ReceivedAt = d.GUID, p.now()
	if !d.DeliveredAt.IsZero() && d.DeliveredAt.Before(ev.ReceivedAt) {
		ev.ReceivedAt = d.DeliveredAt
	}
	var classes corralv1.RunnerClassList
	if err := p.classes.List(ctx, &classes); err != nil && !meta.IsNoMatchError(err) {
		logger.Error(err, "listing RunnerClasses to route a logged delivery; taking the rest next cycle")
		return replayFailed, true
	}
	ev.Vouch = vouchReplay(ev, classes.Items)
	rctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if _, err := p.events.Record(rctx, ev); err != nil {
		logger.Error(err, "recording a logged delivery; taking the rest next cycle", "job", ev.JobID)
		return replayFailed, true
	}
	logger.V(1).Info("recorded a delivery from the App's log", "job", ev.JobID)
	return replayed, false
}
