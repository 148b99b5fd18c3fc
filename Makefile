# failover-webhook
#
# Everything a fresh clone needs is built here from the Go module proxy:
# the webhook, and kube-apiserver, etcd and kubectl for the tests (cached in
# bin/k8s, rebuilt only when the pinned versions change).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

BIN_DIR ?= $(CURDIR)/bin
# Control-plane versions follow go.mod: k8s.io/api v0.Y.Z goes with Kubernetes v1.Y.Z.
K8S_VERSION  ?= $(shell go list -m -f '{{.Version}}' k8s.io/api | sed 's/^v0\./v1./')
ETCD_VERSION ?= v3.6.16
# A user who already has the binaries (setup-envtest, a distribution) points
# KUBEBUILDER_ASSETS at them and nothing is built.
ifdef KUBEBUILDER_ASSETS
ENVTEST_ASSETS := $(KUBEBUILDER_ASSETS)
ENVTEST_BUILD  :=
else
ENVTEST_ASSETS := $(BIN_DIR)/k8s
ENVTEST_BUILD  := envtest-assets
endif

GO_TEST_FLAGS ?=

# golangci-lint is built from the Go module proxy at this version into
# bin/, under a name carrying the version so that a change rebuilds it.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(BIN_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)

# `webhook version` reports these; a build outside make falls back to the
# module version or VCS revision Go records in the binary.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/failover-webhook/failover-webhook/pkg/version
LDFLAGS ?= -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

# CGO_ENABLED=0 as in the Dockerfile: the binary measured and run locally is
# the static one that ships, and it maps no C library.
.PHONY: build
build: ## Build bin/webhook.
	CGO_ENABLED=0 go build -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/webhook ./cmd/webhook

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml: go vet, staticcheck, errcheck, gofmt, goimports and more).
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	mkdir -p $(BIN_DIR)
	GOBIN=$(BIN_DIR) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN_DIR)/golangci-lint $@

# bin/webhook is built once for the test packages that run the binary;
# alone, such a package builds its own.
.PHONY: test
test: lint build $(ENVTEST_BUILD) ## Run every test: unit, handler, fuzz seed corpora, manifests, control-plane tests, test-helm and test-oracle.
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) FAILOVER_WEBHOOK_BINARY=$(BIN_DIR)/webhook go test $(GO_TEST_FLAGS) ./...
	$(MAKE) test-helm
	$(MAKE) test-oracle

# test/helm is a Go module of its own, so that Helm's and Prometheus's
# dependencies stay out of the webhook's go.mod. Its first build compiles
# both SDKs: minutes on a cold build cache.
.PHONY: test-helm
test-helm: $(ENVTEST_BUILD) ## Test the Helm chart (render, schema, lint, server-side dry run, install into a local control plane) and manifests/monitoring's alerts and dashboard, with Helm's and Prometheus's Go packages (test/helm).
	cd test/helm && KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) go test $(GO_TEST_FLAGS) ./...

.PHONY: test-unit
test-unit: ## Run the tests that need neither a control plane nor the built webhook (go test -short), in seconds.
	go test -short $(GO_TEST_FLAGS) ./...

.PHONY: rules-doc
rules-doc: ## Regenerate docs/rules.md from the rule catalogue in pkg/rules.
	go test ./pkg/rules -run TestRulesDocIsCurrent -update

# test/oracle is a Go module of its own, pinned to an Istio commit, so that
# istio.io/istio stays out of the webhook's go.mod. Its first build compiles
# Istio's control plane (about 4 minutes on 2 cores); the corpus then runs in
# about a minute and a half.
.PHONY: test-oracle
test-oracle: ## Judge a corpus of DestinationRules (the agreement corpus, pkg/validate's decision tables, 320 generated rules, 100 generated pairs) by the webhook and by Istio's own config generator for a waypoint (test/oracle); part of make test.
	cd test/oracle && go test $(GO_TEST_FLAGS) ./...

.PHONY: chart
chart: ## Regenerate the Helm chart's templates (charts/failover-webhook/templates) from manifests/.
	go run ./hack/helmify

.PHONY: certs
certs: ## Write a local CA and serving certificate into certs/out.
	go run ./certs/gen -out certs/out

##@ Control plane

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd and kubectl into bin/k8s from the Go module proxy.
	hack/envtest-assets.sh $(BIN_DIR)/k8s $(K8S_VERSION) $(ETCD_VERSION)

##@ Local control plane

.PHONY: run
run: build $(ENVTEST_BUILD) ## Start a local control plane with bin/webhook serving it, print kubectl commands to try; serves until Ctrl-C.
	go build -o $(BIN_DIR)/local-control-plane ./hack/run
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(BIN_DIR)/local-control-plane --webhook-binary $(BIN_DIR)/webhook --log-file $(BIN_DIR)/run/webhook.log

.PHONY: demo
demo: build $(ENVTEST_BUILD) ## Play Istio's multicluster failover guide with kubectl on two local control planes with the webhook; fails if the webhook does not do what the guide needs. KEEP=1 leaves both clusters up to try commands on.
	go build -o $(BIN_DIR)/demo ./hack/demo
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(BIN_DIR)/demo $(if $(KEEP),-keep -kubeconfig-out $(BIN_DIR)/demo/kubeconfig)

##@ Fuzzing

# How long each fuzz target runs under `make fuzz`.
FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Run every Fuzz target of the module for FUZZTIME each (default 30s). An input that fails is written to the package's testdata/fuzz/<target>/, where every `go test` runs it as a seed-corpus row: commit it with the fix.
	@failed=""; \
	for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for target in $$(go test -list '^Fuzz' "$$dir" | grep '^Fuzz'); do \
	    echo "== $$dir $$target ($(FUZZTIME))"; \
	    go test "$$dir" -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) || failed="$$failed $$dir:$$target"; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzzing found failures in:$$failed (inputs saved under testdata/fuzz)"; exit 1; fi

##@ Benchmarks

BENCH_DIR   ?= $(BIN_DIR)/bench
BENCH_FLAGS ?=

.PHONY: bench
bench: build $(ENVTEST_BUILD) ## Measure side by side (docs/benchmarks.md): Go benchmarks, load, API-server latency, memory; writes bin/bench/results.json and summary.md. Not part of make test.
	mkdir -p $(BENCH_DIR)
	go test -run='^$$' -bench=. -benchmem ./pkg/... | tee $(BENCH_DIR)/gobench.txt
	go build -o $(BIN_DIR)/webhook-bench ./hack/bench
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(BIN_DIR)/webhook-bench -webhook $(BIN_DIR)/webhook -gobench $(BENCH_DIR)/gobench.txt -out $(BENCH_DIR) $(BENCH_FLAGS)
