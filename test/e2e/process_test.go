//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a child process of the suite (the corral binary, the fake GitHub), logging to a
// file. It is stopped by its PID only.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startProcess starts bin with args, its output appended to logPath. The child gets its own
// process group (a Ctrl-C in the terminal reaches the suite, which stops it in order) and dies
// with the suite on Linux (see sysProcAttr).
func startProcess(name, logPath, bin string, args ...string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	fmt.Fprintf(log, "==== %s starting %s\n", time.Now().Format(time.RFC3339Nano), name)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	return p, nil
}

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process (by PID) if it still runs.
func (p *process) signal(sig syscall.Signal) {
	if p.running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILL, and waits for the exit.
func (p *process) stop(grace time.Duration) {
	if p == nil {
		return
	}
	p.signal(syscall.SIGCONT) // in case a test froze it
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// kill sends SIGKILL and waits for the exit: a crash, as far as the process can tell.
func (p *process) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// waitHTTP polls url until it answers 200, the process exits or timeout passes.
func waitHTTP(p *process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited (%v) before %s answered", p.name, p.err, url)
		}
		if resp, err := c.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 at %s within %s", p.name, url, timeout)
}

// waitFile polls until path exists, the process exits or timeout passes.
func waitFile(p *process, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("checking %s: %w", path, err)
		}
		if !p.running() {
			return fmt.Errorf("%s exited (%v) before writing %s", p.name, p.err, path)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not write %s within %s", p.name, path, timeout)
}

// freePort returns a TCP port on 127.0.0.1 that nobody listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls until something accepts TCP connections on addr, the process exits or
// timeout passes.
func waitListening(p *process, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited (%v) before listening on %s", p.name, p.err, addr)
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %s", p.name, addr, timeout)
}
