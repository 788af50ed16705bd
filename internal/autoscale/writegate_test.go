package autoscale

import (
	"context"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// writeGate stands between a manager's client and the API server for status writes
// (server-side applies of a status subresource, how the demand store writes): it can hold
// them until released, make them fail, and it measures what the successful ones wrote.
type writeGate struct {
	mu      sync.Mutex
	open    chan struct{} // closed while writes may pass
	fail    error
	written []writtenBytes
}

// writtenBytes is the size of one successful status write: the JSON of the request body
// and of the object the API server stored and returned.
type writtenBytes struct{ request, object int }

func newWriteGate() *writeGate {
	g := &writeGate{open: make(chan struct{})}
	close(g.open)
	return g
}

// hold blocks the writes from now on until release.
func (g *writeGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

// release lets held and later writes pass; it may be called any number of times.
func (g *writeGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// failWith makes the writes fail with err from now on (nil: succeed again).
func (g *writeGate) failWith(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = err
}

// writes returns the sizes of the successful writes so far.
func (g *writeGate) writes() []writtenBytes {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]writtenBytes(nil), g.written...)
}

// wrap is a client whose status applies go through the gate.
func (g *writeGate) wrap(c client.WithWatch) client.WithWatch {
	return interceptor.NewClient(c, interceptor.Funcs{
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
			g.mu.Lock()
			open, fail := g.open, g.fail
			g.mu.Unlock()
			select {
			case <-open:
			case <-ctx.Done():
				return ctx.Err()
			}
			if fail != nil {
				return fail
			}
			req, _ := json.Marshal(obj)
			if err := c.SubResource(sub).Apply(ctx, obj, opts...); err != nil {
				return err
			}
			stored, _ := json.Marshal(obj) // the apply decodes the API server's answer into obj
			g.mu.Lock()
			g.written = append(g.written, writtenBytes{request: len(req), object: len(stored)})
			g.mu.Unlock()
			return nil
		},
	})
}
