# govcol — build, run and test. `make run` starts the quick start; `make test` runs every test (CI calls it).
SHELL        := /bin/bash
GO           ?= go
BIN          := $(CURDIR)/bin
BUILDER      := $(BIN)/builder
MDATAGEN     := $(BIN)/mdatagen
GEN_DIR      := build/generated
TEST_TIMEOUT ?= 25m
CLAUDE_BIN   := node_modules/.bin/claude
# Packages whose metadata.yaml is turned into code by mdatagen.
MDATA_DIRS   := $(dir $(wildcard extension/*/metadata.yaml processor/*/metadata.yaml exporter/*/metadata.yaml receiver/*/metadata.yaml))

.PHONY: all build tools generate check-generated upgrade run test test-go test-alerts lint e2e-deps bench bench-history clean

all: build

# The builder and mdatagen are pinned in internal/tools/go.mod and built from there, so their dependencies never
# touch the distribution's go.mod.
$(BUILDER) $(MDATAGEN): internal/tools/go.mod
	cd internal/tools && $(GO) build -o $(BIN)/ go.opentelemetry.io/collector/cmd/builder go.opentelemetry.io/collector/cmd/mdatagen
tools: $(BUILDER) $(MDATAGEN)

# generate regenerates cmd/govcol from builder-config.yaml and every component's mdatagen code. The builder writes a
# standalone module; only its Go sources are kept (gofmt'd: --skip-get-modules skips the builder's own formatting),
# since govcol builds inside the root module.
generate: tools
	rm -rf $(GEN_DIR) && mkdir -p $(GEN_DIR)
	$(BUILDER) --config builder-config.yaml --skip-compilation --skip-get-modules >/dev/null
	rm -f cmd/govcol/*.go && mkdir -p cmd/govcol && cp $(GEN_DIR)/*.go cmd/govcol/ && gofmt -w cmd/govcol
	rm -rf $(GEN_DIR)
	for d in $(MDATA_DIRS); do (cd $$d && $(MDATAGEN) metadata.yaml) || exit 1; done

# check-generated fails when the committed generated sources differ from what the manifests generate.
check-generated: generate
	@if [ -n "$$(git status --porcelain -- cmd/govcol $(MDATA_DIRS))" ]; then \
		echo "generated sources differ from builder-config.yaml / metadata.yaml; run 'make generate' and commit:"; \
		git status --porcelain -- cmd/govcol $(MDATA_DIRS); git diff --stat -- cmd/govcol $(MDATA_DIRS); exit 1; \
	fi

# upgrade moves every collector module (go.mod, builder-config.yaml, the builder and mdatagen) to one release and
# regenerates: make upgrade VERSION=v0.161.0 [CONTRIB=v0.161.1]. See "Upgrading the collector" in the README.
upgrade:
	@test -n "$(VERSION)" || { echo "usage: make upgrade VERSION=v0.X.Y [CONTRIB=v0.X.Z]"; exit 2; }
	./scripts/upgrade-collector.sh $(VERSION) $(CONTRIB)

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/govcol ./cmd/govcol
	$(GO) build -o $(BIN)/govctl ./cmd/govctl

run: build
	./scripts/run-local.sh

# The real Claude Code CLI for the end-to-end tests, pinned in package.json and cached in node_modules.
$(CLAUDE_BIN): package.json
	npm install --no-audit --no-fund
	@touch $(CLAUDE_BIN)
e2e-deps: $(CLAUDE_BIN)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test: check-generated lint build e2e-deps test-alerts test-go

# The alerting rules' unit tests (dashboards/alerts.yml) with the real promtool; a missing promtool fails.
test-alerts:
	@command -v promtool >/dev/null || { echo "promtool not found: apt-get install prometheus (Prometheus 2.42)"; exit 1; }
	cd dashboards && promtool check config prometheus.yml && promtool test rules alerts_test.yml alerts_week_test.yml

test-go:
	GOVCOL_CLAUDE_BIN=$(CURDIR)/$(CLAUDE_BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# bench runs the benchmarks and the end-to-end load run once and writes docs/BENCHMARKS.md, every figure and goal
# verdict from that run (about 15 minutes on 2 cores).
bench: build
	./scripts/bench.sh

# bench-history runs the long comparisons against older commits, the full load and fault runs and the scale-out
# figures once and writes docs/BENCHMARKS-history.md and docs/SCALING.md's figures (about an hour).
bench-history: build e2e-deps
	./scripts/bench-history.sh

clean:
	rm -rf $(BIN) build
