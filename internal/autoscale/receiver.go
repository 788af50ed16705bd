package autoscale

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// receiver is the webhook server with its committer and keyring, a manager.Runnable that
// runs on every replica (GitHub may deliver to any of them).
type receiver struct {
	addr      string
	handler   *handler
	committer *committer
	keys      *secretKeyring
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
	if err := r.keys.load(loadCtx); err != nil {
		logger.Error(err, "webhook secrets not loaded yet; deliveries get 503 until they are")
	}
	cancel()
	go r.keys.run(ctx)

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
