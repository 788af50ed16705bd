// Command standin plays the actions runner in runner pods on a real node (make test-node),
// since the real runner cannot be downloaded here. Installed as the image's run.sh, it reads
// ACTIONS_RUNNER_INPUT_JITCONFIG as the runner does, checks that it decodes (the fake
// GitHub's JIT document: runner ID and name), runs the job script in CORRAL_NODE_JOB with
// bash, and exits with the job's code, as an ephemeral runner's run.sh exits after its one
// job. When CORRAL_NODE_REPORT names a URL, it POSTs the result there (the test's collector:
// the pod and its logs may be gone by the time the test looks). It never prints the JIT
// config.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/corral-run/corral/internal/github/githubtest"
)

// Report is what the stand-in POSTs to CORRAL_NODE_REPORT.
type Report struct {
	Runner   string `json:"runner"`
	RunnerID int64  `json:"runnerID"`
	ExitCode int    `json:"exitCode"`
	Output   string `json:"output"`
}

func main() {
	r := run()
	if url := os.Getenv("CORRAL_NODE_REPORT"); url != "" {
		if err := send(url, r); err != nil {
			fmt.Fprintf(os.Stderr, "standin: reporting: %v\n", err)
		}
	}
	os.Exit(r.ExitCode)
}

func run() Report {
	id, name, err := githubtest.DecodeJITConfig(os.Getenv("ACTIONS_RUNNER_INPUT_JITCONFIG"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "standin: %v\n", err)
		return Report{Runner: os.Getenv("HOSTNAME"), ExitCode: 1, Output: err.Error()}
	}
	fmt.Printf("standin: runner %s (id %d) registered with its JIT config\n", name, id)
	r := Report{Runner: name, RunnerID: id}
	script := os.Getenv("CORRAL_NODE_JOB")
	if script == "" {
		return r
	}
	var out bytes.Buffer
	cmd := exec.Command("/bin/bash", "-c", script)
	cmd.Stdout, cmd.Stderr = io.MultiWriter(os.Stdout, &out), io.MultiWriter(os.Stderr, &out)
	err = cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		r.ExitCode = exit.ExitCode()
	} else if err != nil {
		fmt.Fprintf(&out, "standin: starting the job: %v\n", err)
		r.ExitCode = 1
	}
	r.Output = out.String()
	fmt.Printf("standin: job exited with code %d\n", r.ExitCode)
	return r
}

func send(url string, r Report) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	var last error
	for range 5 {
		resp, err := c.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
			err = fmt.Errorf("collector answered %s", resp.Status)
		}
		last = err
		time.Sleep(time.Second)
	}
	return last
}
