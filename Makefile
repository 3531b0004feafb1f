# jobwatch — developer entry points. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/jobwatch/jobwatch/cmd/jobwatch/app.version=$(VERSION) -X github.com/jobwatch/jobwatch/cmd/jobwatch/app.commit=$(COMMIT)
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v /test/)
FUZZTIME  ?= 60s
# golangci-lint is pinned and built from the module proxy into the cache (outside the repo), like the control plane.
GOLANGCI_VERSION ?= v2.15.0
TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/jobwatch/tools
GOLANGCI  := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_VERSION)/golangci-lint

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/jobwatch (static, version stamped)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/jobwatch ./cmd/jobwatch

.PHONY: test
test: controlplane ## Run every test with -race, control-plane integration included
	$(GO) test -race -count=1 ./...

.PHONY: test-unit
test-unit: ## Run the tests that need no control plane
	$(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: controlplane
controlplane: ## Build (once) and cache etcd and kube-apiserver for tests
	$(GO) run ./hack/ensure-controlplane

.PHONY: lint
lint: $(GOLANGCI) ## gofmt, go vet, golangci-lint (.golangci.yml)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI) run ./...

$(GOLANGCI):
	@echo "building golangci-lint $(GOLANGCI_VERSION) into $(dir $@) (one time, a few minutes)"
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

.PHONY: docs
docs: ## Regenerate the README configuration table and docs/rules.md
	$(GO) test ./cmd/jobwatch/app -run TestREADMEConfigTable -update -count=1
	$(GO) test ./pkg/analyze -run TestRulesDocUpToDate -update -count=1

.PHONY: golden
golden: ## Regenerate golden files after an intended output change
	$(GO) test ./cmd/jobwatch/app ./pkg/notify -run Golden -update -count=1

.PHONY: bench
bench: ## Run the benchmarks (analysis throughput and allocations)
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./pkg/...

.PHONY: fuzz
fuzz: ## Fuzz manifest decoding + analysis for FUZZTIME (default 60s)
	$(GO) test ./pkg/analyze -run '^$$' -fuzz FuzzDecodeAnalyze -fuzztime $(FUZZTIME)

.PHONY: quality
quality: ## Precision and recall of `jobwatch check` on the fixture corpus
	$(GO) test ./pkg/analyze -run TestCorpus -v -count=1 | grep -E 'precision|recall|corpus'

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN)

.PHONY: demo
demo: build controlplane ## Watch jobwatch catch a miner and a risky update on a local control plane
	$(GO) run ./hack/demo

.PHONY: image-check
image-check: build ## Verify the image's binary is static and stamped, and the Dockerfile builds it with `make build`
	$(GO) run ./hack/imagecheck $(BIN)/jobwatch Dockerfile $(COMMIT)
