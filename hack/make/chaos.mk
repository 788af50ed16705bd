# Chaos suite (test/chaos, build tag chaos): sustained job churn through two pools while
# corral replicas are killed (SIGKILL, failpoints, the leader), GitHub answers errors, goes
# down and paginates; prints each invariant with its measured value (docs/reliability.md).
# Included by the top-level Makefile.

# Extra arguments for the run, e.g. CHAOS_ARGS="-jobs 400 -churn 15m -kills 40".
CHAOS_ARGS ?=

EXTRA_TESTS += chaos-smoke

##@ Chaos

.PHONY: chaos
chaos: e2e-assets ## Run the full chaos suite (200+ jobs, 20+ kills, a 2-minute GitHub outage; about 20 minutes).
	go test -tags chaos $(GO_TEST_FLAGS) ./test/chaos/
	K8S_BIN=$(K8S_BIN) go run -tags chaos ./test/chaos -size full $(CHAOS_ARGS)

.PHONY: chaos-smoke
chaos-smoke: e2e-assets ## Run a short chaos run (20 jobs, a few kills, a 20 s outage; a few minutes).
	go test -tags chaos $(GO_TEST_FLAGS) ./test/chaos/
	K8S_BIN=$(K8S_BIN) go run -tags chaos ./test/chaos -size smoke $(CHAOS_ARGS)
