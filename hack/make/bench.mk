# Benchmarks (issue 10): burst scale-up, GitHub API cost, memory and CPU at scale, churn, on a
# local control plane with kwok fake nodes and the fake GitHub (test/bench, build tag bench).
# Included by the top-level Makefile. Results of a full run: docs/performance.md.

# GitHub API latency the fake adds to every answer.
BENCH_LATENCY ?= 100ms
# Extra arguments for the harness, e.g. BENCH_ARGS="-bursts 50,200 -churn 1m -runners 500 -others 5000".
BENCH_ARGS ?=

EXTRA_TESTS += bench-smoke

##@ Benchmarks

.PHONY: bench
bench: e2e-assets ## Run the benchmarks at full size (about 20 minutes) and print the tables.
	K8S_BIN=$(K8S_BIN) go run -tags bench ./test/bench -size full -latency $(BENCH_LATENCY) $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: e2e-assets ## Run a tiny size of the benchmarks: checks the harness works (numbers are not judged).
	K8S_BIN=$(K8S_BIN) go run -tags bench ./test/bench -size smoke -latency $(BENCH_LATENCY) $(BENCH_ARGS)
