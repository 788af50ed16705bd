// Package harness is what every suite that runs Corral's real binary shares (test/e2e,
// test/bench, test/chaos): child processes with log files that die with the suite, the local
// kwok control plane of hack/cluster, Corral installed the way users do with a kubeconfig
// holding its ServiceAccount's token, binaries built from this checkout, the fake GitHub
// process (cmd/fake-github) and its control client, corral itself and its metrics.
//
// Every process is started and stopped by its PID only, never by name.
package harness
