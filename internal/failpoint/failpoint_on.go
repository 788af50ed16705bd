//go:build failpoints

package failpoint

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// Env names the variable that arms failpoints: comma-separated NAME=PROBABILITY pairs, e.g.
// "register=0.02,pod-created=0.02". A hit point exits the process with ExitCode, as a
// SIGKILL would stop it: no deferred function runs, nothing is flushed.
const Env = "CORRAL_FAILPOINTS"

// ExitCode is the exit status of a process stopped by a failpoint.
const ExitCode = 97

// Hit exits the process with probability p when CORRAL_FAILPOINTS arms name with p.
func Hit(name string) {
	p, ok := probability(os.Getenv(Env), name)
	if !ok || rand.Float64() >= p {
		return
	}
	fmt.Fprintf(os.Stderr, "corral: failpoint %s hit: exiting with code %d\n", name, ExitCode)
	os.Exit(ExitCode)
}

// probability returns the probability spec gives name.
func probability(spec, name string) (float64, bool) {
	for _, item := range strings.Split(spec, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(item), "=")
		if !found || k != name {
			continue
		}
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p <= 0 {
			return 0, false
		}
		return min(p, 1), true
	}
	return 0, false
}
