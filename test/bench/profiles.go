//go:build bench

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// cpuChunk is the length of one CPU profile request: a phase's profile is the merge of
// consecutive chunks, so it covers a phase whose length is not known in advance and ends at
// most one chunk after it.
const cpuChunk = 5 * time.Second

// topNodes is how many entries of each profile the report prints.
const topNodes = 15

// profile is one profile saved for the report.
type profile struct {
	name, path, kind string // kind: cpu or heap
	top              string // go tool pprof -top
	err              error
}

// profiler fetches corral's CPU and heap profiles (net/http/pprof behind
// --pprof-bind-address) into dir. A nil profiler does nothing.
type profiler struct {
	base, dir string
	client    *http.Client

	mu   sync.Mutex
	list []profile
}

func newProfiler(base, dir string) *profiler {
	return &profiler{base: base, dir: dir, client: &http.Client{Timeout: cpuChunk + 30*time.Second}}
}

// reset empties dir: this run's profiles only.
func (p *profiler) reset() error {
	if p == nil {
		return nil
	}
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("emptying %s: %w", p.dir, err)
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", p.dir, err)
	}
	return nil
}

// cpu starts profiling corral's CPU as name; the returned stop ends it (after the chunk in
// flight) and saves <dir>/<name>-cpu.pprof.
func (p *profiler) cpu(ctx context.Context, name string) (stop func()) {
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan []string)
	go func() {
		var chunks []string
		defer func() { finished <- chunks }()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			chunk := filepath.Join(p.dir, fmt.Sprintf("%s-cpu.%03d.pprof", name, i))
			if err := p.fetch(ctx, fmt.Sprintf("/profile?seconds=%d", int(cpuChunk.Seconds())), chunk); err != nil {
				logf("CPU profile %s: %v", name, err)
				return
			}
			chunks = append(chunks, chunk)
		}
	}()
	return func() {
		close(done)
		chunks := <-finished
		out := filepath.Join(p.dir, name+"-cpu.pprof")
		err := merge(ctx, out, chunks)
		p.add(ctx, profile{name: name, path: out, kind: "cpu", err: err})
	}
}

// heap saves corral's heap profile now as <dir>/<name>-heap.pprof (after a GC: in-use
// figures are then current).
func (p *profiler) heap(ctx context.Context, name string) {
	if p == nil {
		return
	}
	out := filepath.Join(p.dir, name+"-heap.pprof")
	p.add(ctx, profile{name: name, path: out, kind: "heap", err: p.fetch(ctx, "/heap?gc=1", out)})
}

// fetch saves the answer to path under the pprof base URL into file.
func (p *profiler) fetch(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return fmt.Errorf("building the profile request: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("fetching %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("creating %s: %w", file, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return f.Close()
}

// merge writes the merge of the CPU profile chunks to out and removes them.
func merge(ctx context.Context, out string, chunks []string) error {
	if len(chunks) == 0 {
		return errors.New("no CPU profile was taken")
	}
	defer func() {
		for _, c := range chunks {
			_ = os.Remove(c)
		}
	}()
	if len(chunks) == 1 {
		return os.Rename(chunks[0], out)
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof", "-proto", "-output", out}, chunks...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("merging %d CPU profiles: %w\n%s", len(chunks), err, b)
	}
	return nil
}

// add records a profile with its top entries.
func (p *profiler) add(ctx context.Context, pr profile) {
	if pr.err == nil {
		args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", topNodes)}
		if pr.kind == "heap" {
			args = append(args, "-sample_index=inuse_space")
		}
		b, err := exec.CommandContext(ctx, "go", append(args, pr.path)...).CombinedOutput()
		pr.top, pr.err = string(b), err
	}
	if pr.err != nil {
		logf("profile %s (%s): %v", pr.name, pr.kind, pr.err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, pr)
}

// saved lists the profiles in the order they were taken.
func (p *profiler) saved() []profile {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]profile(nil), p.list...)
}
