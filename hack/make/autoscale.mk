# Autoscaling from workflow_job webhooks (issue 7). Included by the top-level Makefile.
# `make test-unit` runs the handler's fuzz seeds; this target explores further.

FUZZTIME ?= 60s

##@ Autoscaling

.PHONY: fuzz-webhook
fuzz-webhook: ## Fuzz the webhook handler for FUZZTIME (default 60s): no panic, nothing unsigned reaches the demand store.
	go test ./internal/autoscale/ -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME)
