# castware-operator — every target works on a fresh Debian machine with only Go installed.
# Tools are built from the Go module proxy into a cache outside the repository (never downloaded
# from release pages; never setup-envtest).

SHELL := /bin/bash
export GOTOOLCHAIN := local
export GOFLAGS ?=

CACHE_DIR    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)
TESTBIN_DIR  ?= $(CACHE_DIR)/k8s-testbin
export KUBEBUILDER_ASSETS := $(TESTBIN_DIR)
CONTROLLER_GEN := $(TESTBIN_DIR)/controller-gen
HELM           := $(TESTBIN_DIR)/helm
KUBECTL        := $(TESTBIN_DIR)/kubectl

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.1.0-dev)
LDFLAGS := -s -w -X github.com/castware-operator/castware-operator/internal/version.Version=$(VERSION) \
           -X github.com/castware-operator/castware-operator/internal/version.Commit=$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

GO_TEST_FLAGS ?= -count=1
TEST_TIMEOUT  ?= 40m

.PHONY: all
all: build

##@ Development

.PHONY: testbin
testbin: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm, controller-gen, kustomize into $(TESTBIN_DIR).
	@hack/testbin.sh $(TESTBIN_DIR)

.PHONY: generate
generate: testbin ## Generate deepcopy code, CRDs and RBAC (config/rbac, the chart, internal/permissions, the OLM bundle) from the API types and markers.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) webhook paths=./internal/webhook/... output:webhook:artifacts:config=config/webhook
	# The catalog's foreign objects (watches.yaml) become named +kubebuilder:rbac markers first.
	go run ./hack/shipgen markers
	# Phase 1: every +kubebuilder:rbac marker of the operator's code (controllers, internal/...) plus
	# internal/permissions/phase1; phase2 and selfmanage markers sit behind the rbacmarkers build tag.
	$(CONTROLLER_GEN) rbac:roleName=phase1 paths=./... output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) --load-build-tags=rbacmarkers rbac:roleName=phase2 paths=./internal/permissions/phase2/... output:rbac:artifacts:config=config/rbac/phase2
	$(CONTROLLER_GEN) --load-build-tags=rbacmarkers rbac:roleName=selfmanage paths=./internal/permissions/selfmanage/... output:rbac:artifacts:config=config/rbac/selfmanage
	go run ./hack/shipgen chart
	go run ./hack/shipgen bundle

.PHONY: fmt
fmt: ## gofmt the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet every package.
	go vet ./...

.PHONY: verify-fmt
verify-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

##@ Test

.PHONY: test
test: testbin chromium verify-fmt vet ## Build every tool it needs, then run every test (unit, envtest integration, the fault-injection suite, generated-file check) and a short fuzz run.
	go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz-short

# The fuzz targets (package:function). `go test` runs their committed seed corpora (testdata/fuzz/<target>)
# like any test; fuzz-short fuzzes each for FUZZTIME.
FUZZ_TARGETS := internal/values:FuzzMerge internal/values:FuzzUnflatten internal/castai:FuzzDecodeActions \
                internal/castai:FuzzDecodeAPIError internal/charts:FuzzSelectVersion internal/migration:FuzzExtractWorkload \
                internal/charts:FuzzParseIndex internal/charts:FuzzParseArchive internal/castai:FuzzDecodeResponse \
                internal/castai:FuzzDecodeUpgradeVerdict
FUZZTIME ?= 10s

.PHONY: fuzz-short
fuzz-short: ## Fuzz every fuzz target for FUZZTIME (default 10s); a failing input is written to the package's testdata/fuzz.
	@hack/fuzz-short.sh $(FUZZTIME) $(FUZZ_TARGETS)

.PHONY: test-faults
test-faults: testbin fuzz-short ## The fault-injection suite (test/faults: the operator process killed, control-plane, API and chart faults, hostile input, drift) and the short fuzz run.
	go test $(GO_TEST_FLAGS) -timeout 30m -v ./test/faults/

STRESS_RUNS ?= 5

.PHONY: test-faults-stress
test-faults-stress: testbin ## The fault-injection suite STRESS_RUNS times in a row (default 5) under starvation: operators, kube-apiserver and etcd on one core with busy loops, every byte to kube-apiserver delayed.
	@set -e; for i in $$(seq 1 $(STRESS_RUNS)); do start=$$(date +%s); \
		echo "stress run $$i/$(STRESS_RUNS)"; \
		CASTWARE_FAULTS_STRESS=1 go test $(GO_TEST_FLAGS) -timeout 60m ./test/faults/ || { echo "stress run $$i failed after $$(( $$(date +%s) - start ))s"; exit 1; }; \
		echo "stress run $$i passed in $$(( $$(date +%s) - start ))s"; done

.PHONY: reliability-doc
reliability-doc: testbin ## Run the fault-injection suite and regenerate docs/reliability.md from what it observed.
	CASTWARE_RELIABILITY_DOC=$(CURDIR)/docs/reliability.md go test $(GO_TEST_FLAGS) -timeout 30m ./test/faults/

.PHONY: chromium
chromium: ## Install Debian's chromium for the console page's browser test (when missing).
	@hack/ensure-chromium.sh

.PHONY: test-unit
test-unit: ## Unit tests only (no control plane).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/)

##@ Packaging

.PHONY: helm-lint
helm-lint: testbin ## Lint both Helm charts (test/packaging's TestHelmLint runs the same inside `make test`).
	$(HELM) lint --strict helm-charts/castware-operator --set apiKeySecret.apiKey=lint --set defaultCluster.provider=eks
	$(HELM) lint --strict helm-charts/castware-components

.PHONY: bundle
bundle: ## Regenerate the OLM bundle (bundle/, bundle.Dockerfile) from config/ and the operator chart's version.
	go run ./hack/shipgen bundle

.PHONY: bundle-validate
bundle-validate: ## Validate bundle/ with operator-framework/api's default validators and the operatorframework suite (a Go test).
	go test $(GO_TEST_FLAGS) ./test/packaging -run 'TestBundleValidation|TestGeneratedFilesUpToDate'

##@ Release (no Docker: internal/devtools/release builds OCI images in Go)

RELEASE_DIR ?= bin/release
# REGISTRY: where `make push` puts the release (host[:port][/path]); the released operator chart names
# REGISTRY/castware-operator@digest and pulls its own newer charts from oci://REGISTRY/charts.
REGISTRY    ?= ghcr.io/castware-operator
RELEASE_TOOL = go run ./cmd/castware-release
RELEASE_FLAGS = -out $(RELEASE_DIR) -registry $(REGISTRY) $(if $(IMAGE_VERSION),-version $(IMAGE_VERSION))

.PHONY: image
image: ## Build the operator image (linux/amd64 + linux/arm64 index, reproducible) as an OCI layout in $(RELEASE_DIR)/image.
	$(RELEASE_TOOL) image $(RELEASE_FLAGS)

.PHONY: bundle-image
bundle-image: ## Build the OLM bundle image (bundle/, bundle.Dockerfile's labels) as an OCI layout in $(RELEASE_DIR)/bundle-image.
	$(RELEASE_TOOL) bundle-image $(RELEASE_FLAGS)

.PHONY: release
release: ## Build image, bundle image and both chart archives (pinned to the image digest) and $(RELEASE_DIR)/manifest.json.
	$(RELEASE_TOOL) release $(RELEASE_FLAGS)

.PHONY: push
push: release ## Build the release for REGISTRY and push it there: images, and the charts as OCI artifacts under REGISTRY/charts.
	$(RELEASE_TOOL) push -out $(RELEASE_DIR) -registry $(REGISTRY) $(if $(PLAIN_HTTP),-plain-http)

##@ Build and run

.PHONY: bench
bench: testbin ## Benchmark install/action latency, idle cost and memory vs cluster size (BENCH_SCALE, BENCH_FLAGS); writes docs/bench.
	go run ./cmd/castware-bench $(BENCH_FLAGS)

.PHONY: demo
demo: testbin ## Start a local control plane, a fake Cast AI API, the demo charts and the operator; console page on 127.0.0.1:8090.
	go run ./cmd/castware-demo $(DEMO_FLAGS)

.PHONY: build
build: ## Build the operator binary into bin/ (static, as the image ships it).
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/castware-operator .

.PHONY: run
run: build ## Run the operator against the cluster in $$KUBECONFIG (namespace: NAMESPACE, default castai-agent).
	bin/castware-operator --namespace=$(or $(NAMESPACE),castai-agent) --health-probe-bind-address=:8081

.PHONY: install-crds
install-crds: testbin ## Apply the CRDs to the cluster in $$KUBECONFIG.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
