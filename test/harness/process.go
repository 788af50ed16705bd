package harness

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

// Process is a child process of a suite, logging to a file. It is stopped by its PID only.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Command describes a process to start.
type Command struct {
	// Name names the process in errors and in its log's header line.
	Name string
	// Bin and Args are what runs.
	Bin  string
	Args []string
	// Env is added to the suite's environment.
	Env []string
	// Log receives standard output and error, appended: each start is marked by a header
	// line, so a restarted process keeps its earlier lives.
	Log string
}

// Start starts c. The child gets its own process group (a Ctrl-C in the terminal reaches the
// suite, which stops it in order) and dies with the suite on Linux (see sysProcAttr).
func Start(c Command) (*Process, error) {
	log, err := os.OpenFile(c.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", c.Name, err)
	}
	fmt.Fprintf(log, "==== %s starting %s\n", time.Now().Format(time.RFC3339Nano), c.Name)
	cmd := exec.Command(c.Bin, c.Args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s: %w", c.Name, err)
	}
	p := &Process{Name: c.Name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	return p, nil
}

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed once the process exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited (nil for status 0); valid once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// ExitCode is the process's exit status, -1 when a signal ended it; valid once Done is closed.
func (p *Process) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// PID is the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process (by PID) if it still runs.
func (p *Process) Signal(sig syscall.Signal) {
	if p.Running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL, and waits for the exit. A frozen
// process (Freeze) is resumed first. A nil Process is already stopped.
func (p *Process) Stop(grace time.Duration) {
	if p == nil {
		return
	}
	p.Signal(syscall.SIGCONT)
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill sends SIGKILL and waits for the exit: a crash, as far as the process can tell.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Freeze and Thaw stop and resume the process (SIGSTOP, SIGCONT) without it noticing.
func (p *Process) Freeze() { p.Signal(syscall.SIGSTOP) }
func (p *Process) Thaw()   { p.Signal(syscall.SIGCONT) }

// WaitHTTP polls url until it answers 200, the process exits or timeout passes.
func (p *Process) WaitHTTP(url string, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	return p.poll(timeout, "answer 200 at "+url, func() (bool, error) {
		resp, err := c.Get(url)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// WaitFile polls until path exists, the process exits or timeout passes.
func (p *Process) WaitFile(path string, timeout time.Duration) error {
	return p.poll(timeout, "write "+path, func() (bool, error) {
		_, err := os.Stat(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("checking %s: %w", path, err)
		}
		return err == nil, nil
	})
}

// WaitListening polls until something accepts TCP connections on addr, the process exits
// or timeout passes.
func (p *Process) WaitListening(addr string, timeout time.Duration) error {
	return p.poll(timeout, "listen on "+addr, func() (bool, error) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, nil
		}
		_ = conn.Close()
		return true, nil
	})
}

// poll runs check every 100 ms until it is done, fails, the process exits or timeout passes.
func (p *Process) poll(timeout time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !p.Running() {
			return fmt.Errorf("%s exited (%v) before it did %s", p.Name, p.err, what)
		}
		ok, err := check()
		if err != nil || ok {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not %s within %s", p.Name, what, timeout)
}

// FreePort returns a TCP port on 127.0.0.1 that nobody listened on a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is 127.0.0.1:PORT with a FreePort.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
