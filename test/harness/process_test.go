package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProcessLogsRestartsAndStops(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "child.log")
	start := func(script string) *Process {
		t.Helper()
		p, err := Start(Command{Name: "child", Bin: "/bin/sh", Args: []string{"-c", script}, Env: []string{"GREETING=hello"}, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := start(`echo "$GREETING"; touch ` + filepath.Join(dir, "ready") + `; exec sleep 60`)
	if err := p.WaitFile(filepath.Join(dir, "ready"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if p.Running() || p.ExitCode() != -1 {
		t.Errorf("after Kill: running %t, exit code %d; want stopped by a signal", p.Running(), p.ExitCode())
	}
	q := start(`exit 97`)
	<-q.Done()
	if q.ExitCode() != 97 {
		t.Errorf("exit code %d, want 97", q.ExitCode())
	}
	if err := q.WaitFile(filepath.Join(dir, "never"), time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("waiting on an exited process: %v, want an error saying it exited", err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); strings.Count(got, "==== ") != 2 || !strings.Contains(got, "hello\n") {
		t.Errorf("log = %q, want two start headers and the first life's output", got)
	}
	var nilProc *Process
	nilProc.Stop(time.Second) // a process never started is already stopped
}

func TestMetrics(t *testing.T) {
	before, err := ParseMetrics(strings.NewReader("# HELP x\nreq_total{code=\"200\",method=\"GET\"} 3\nreq_total{code=\"503\",method=\"POST\"} 1\nup 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ParseMetrics(strings.NewReader("req_total{code=\"200\",method=\"GET\"} 5\nreq_total{code=\"503\",method=\"POST\"} 4\nup 1\n"))
	d := after.Minus(before)
	if d.Sum("req_total") != 5 || d.Sum("req_total", `code="503"`) != 3 || d.Sum("up") != 0 {
		t.Errorf("diff = %v", d)
	}
	if by := after.By("req_total", "method", nil); by["GET"] != 5 || by["POST"] != 4 {
		t.Errorf("By = %v", by)
	}
}
