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

// Shutdown budgets: the server finishes the requests in flight, then the queue drains.
const (
	serverShutdownTimeout = 5 * time.Second
	queueDrainTimeout     = 10 * time.Second
)

// receiver is the webhook server with its queue and keyring, a manager.Runnable that runs
// on every replica (GitHub may deliver to any of them).
type receiver struct {
	addr    string
	handler *handler
	queue   *workQueue
	keys    *secretKeyring
	workers int
}

var (
	_ manager.Runnable               = (*receiver)(nil)
	_ manager.LeaderElectionRunnable = (*receiver)(nil)
)

// NeedLeaderElection is false: every replica serves webhooks.
func (r *receiver) NeedLeaderElection() bool { return false }

// Start loads the secrets, serves deliveries until ctx ends, then stops accepting and lets
// the queue drain.
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
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	queueCtx, stopQueue := context.WithCancel(context.WithoutCancel(ctx))
	queueDone := make(chan struct{})
	go func() {
		defer close(queueDone)
		r.queue.run(queueCtx, r.workers, queueDrainTimeout)
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
	shutdownCtx, cancelShutdown := context.WithTimeout(context.WithoutCancel(ctx), serverShutdownTimeout)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error(err, "stopping the webhook server")
	}
	stopQueue()
	<-queueDone
	return result
}
