package autoscale

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// receiver is the webhook server with its committer and keyring, a manager.Runnable that
// runs on every replica (GitHub may deliver to any of them).
type receiver struct {
	addr      string
	handler   *handler
	committer *committer
	keys      *receiverKeys
	// cache starts the RunnerPool and RunnerClass informers before the first delivery.
	cache informers
}

// informers is the part of the manager's cache the receiver warms up.
type informers interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

var (
	_ manager.Runnable               = (*receiver)(nil)
	_ manager.LeaderElectionRunnable = (*receiver)(nil)
)

// NeedLeaderElection is false: every replica serves webhooks.
func (r *receiver) NeedLeaderElection() bool { return false }

// Start loads the secrets, serves deliveries until ctx ends, then stops accepting, lets the
// deliveries in flight get their answer (their writes go on meanwhile) and stops the
// committer. Nothing is acknowledged that is not persisted, so there is no queue to drain.
func (r *receiver) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("webhook")
	ctx = log.IntoContext(ctx, logger)
	loadCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	r.warmUp(loadCtx)
	if err := r.keys.global.load(loadCtx); err != nil {
		logger.Error(err, "webhook secrets not loaded yet; deliveries get 503 until they are")
	}
	r.keys.classes.reload(loadCtx)
	cancel()
	go r.keys.global.run(ctx)
	go r.keys.classes.run(ctx)

	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("listening for webhooks on %s: %w", r.addr, err)
	}
	srv := &http.Server{
		Handler:           r.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// Deliveries in flight at shutdown still get their answer: their contexts outlive
		// ctx (the commit timeout bounds them).
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	commitsDone := make(chan struct{})
	go func() {
		defer close(commitsDone)
		r.committer.run(commitCtx)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("serving GitHub webhooks", "address", ln.Addr().String(), "path", r.handler.path)

	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			result = fmt.Errorf("serving webhooks: %w", err)
		}
	}
	// A delivery in flight waits at most the commit timeout for its write.
	shutdownCtx, cancelShutdown := context.WithTimeout(context.WithoutCancel(ctx), r.handler.timeout+time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error(err, "stopping the webhook server")
	}
	stopCommits()
	<-commitsDone
	return result
}

// warmUp starts the informers the handler reads, so the first delivery does not wait for
// them. Without the RunnerClass CRD only class-less pools are served.
func (r *receiver) warmUp(ctx context.Context) {
	for _, obj := range []client.Object{&corralv1.RunnerPool{}, &corralv1.RunnerClass{}} {
		if _, err := r.cache.GetInformer(ctx, obj); err != nil {
			log.FromContext(ctx).Error(err, "starting an informer for the webhook receiver", "kind", fmt.Sprintf("%T", obj))
		}
	}
}

// logReading runs readers of App delivery logs (the recovery, pull mode) on the leader,
// with the committer that writes what they apply.
type logReading struct {
	committer *committer
	readers   []manager.Runnable
}

var (
	_ manager.Runnable               = (*logReading)(nil)
	_ manager.LeaderElectionRunnable = (*logReading)(nil)
)

// NeedLeaderElection is true: one replica reads each log.
func (r *logReading) NeedLeaderElection() bool { return true }

// Start runs the readers until ctx ends, then lets the writes in flight finish.
func (r *logReading) Start(ctx context.Context) error {
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	r.committer.begin(commitCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.committer.finish()
	}()
	errs := make(chan error, len(r.readers))
	for _, rd := range r.readers {
		go func() { errs <- rd.Start(ctx) }()
	}
	var err error
	for range r.readers {
		err = errors.Join(err, <-errs)
	}
	stopCommits()
	<-done
	return err
}
