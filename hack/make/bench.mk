# Benchmarks: burst scale-up with one and several GitHub Apps, a warm pool, GitHub and Kubernetes
# API cost, memory and CPU at scale, churn, profiles, on a local control plane with kwok fake
# nodes and the fake GitHub (test/bench, build tag bench).
# Included by the top-level Makefile. Results of a full run: docs/performance.md.

# GitHub API latency the fake adds to every answer.
BENCH_LATENCY ?= 100ms
# Extra arguments for the harness, e.g. BENCH_ARGS="-bursts 50,200 -churn 1m -runners 500 -others 5000"
# or BENCH_ARGS="-corral-env GOMEMLIMIT=64MiB -status-interval 10s".
BENCH_ARGS ?=

EXTRA_TESTS += bench-smoke

##@ Benchmarks

.PHONY: bench
bench: e2e-assets ## Run the benchmarks at full size (about 55 minutes) and print the tables.
	K8S_BIN=$(K8S_BIN) HELM=$(HELM) go run -tags bench ./test/bench -size full -latency $(BENCH_LATENCY) $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: e2e-assets ## Run a tiny size of the benchmarks: checks the harness works (numbers are not judged).
	K8S_BIN=$(K8S_BIN) HELM=$(HELM) go run -tags bench ./test/bench -size smoke -latency $(BENCH_LATENCY) $(BENCH_ARGS)
