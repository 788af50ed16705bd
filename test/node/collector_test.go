//go:build node

package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// report is what a stand-in runner POSTs when its job ended (test/node/standin.Report).
type report struct {
	Runner   string `json:"runner"`
	RunnerID int64  `json:"runnerID"`
	ExitCode int    `json:"exitCode"`
	Output   string `json:"output"`
}

// collector takes the stand-in runners' reports over HTTP. It listens on every address (the
// pods reach the node through their bridge's gateway, which exists only once the first pod
// runs) at a random port, and answers only its secret path.
type collector struct {
	srv  *http.Server
	port int
	path string
	mu   sync.Mutex
	got  map[string]report
}

func startCollector() (*collector, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	c := &collector{port: l.Addr().(*net.TCPAddr).Port, path: "/report/" + hex.EncodeToString(secret), got: map[string]report{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+c.path, func(w http.ResponseWriter, r *http.Request) {
		var rep report
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&rep); err != nil || rep.Runner == "" {
			http.Error(w, "bad report", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.got[rep.Runner] = rep
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	c.srv = &http.Server{Handler: mux}
	go func() { _ = c.srv.Serve(l) }()
	return c, nil
}

// url is where a pod reaches the collector, through the node's gateway.
func (c *collector) url(gateway string) string {
	return "http://" + net.JoinHostPort(gateway, strconv.Itoa(c.port)) + c.path
}

// reportOf returns the report of runner, if it came.
func (c *collector) reportOf(runner string) (report, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.got[runner]
	return r, ok
}

func (c *collector) stop() {
	if c != nil {
		_ = c.srv.Close()
	}
}
