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

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

# CGO_ENABLED=0 as in the Dockerfile: the binary measured and run locally is
# the static one that ships, and it maps no C library (1.7 MiB less resident).
.PHONY: build
build: ## Build bin/webhook.
	CGO_ENABLED=0 go build -o $(BIN_DIR)/webhook ./cmd/webhook

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: fmt-check
fmt-check: ## Fail if any Go file is not gofmt-clean.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: fmt-check vet ## gofmt check and go vet.

.PHONY: test
test: lint $(ENVTEST_BUILD) ## Run every test: unit, handler, fuzz seed corpora, manifests and control-plane tests.
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) go test $(GO_TEST_FLAGS) ./...

.PHONY: test-oracle
test-oracle: ## Judge a corpus of DestinationRules by the webhook and by Istio's own config generator (test/oracle, its own Go module pinned to an Istio commit). Not yet part of make test or CI: its waypoint fixture does not get clusters from Istio yet.
	cd test/oracle && go test $(GO_TEST_FLAGS) ./...

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
	go build -o $(BIN_DIR)/local-control-plane ./test/run
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(BIN_DIR)/local-control-plane --webhook-binary $(BIN_DIR)/webhook

.PHONY: demo
demo: $(ENVTEST_BUILD) ## Play Istio's multicluster failover guide with kubectl on two local control planes with the webhook; fails if the webhook does not do what the guide needs.
	go build -o $(BIN_DIR)/demo ./test/demo
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(BIN_DIR)/demo

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
	go build -o $(BIN_DIR)/webhook-bench ./test/bench
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(BIN_DIR)/webhook-bench -webhook $(BIN_DIR)/webhook -gobench $(BENCH_DIR)/gobench.txt -out $(BENCH_DIR) $(BENCH_FLAGS)
