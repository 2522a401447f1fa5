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
generate: testbin ## Generate deepcopy code, CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./controllers/... output:rbac:artifacts:config=config/rbac

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
test: testbin verify-fmt vet ## Build every tool it needs, then run every test (unit, envtest integration, generated-file check).
	go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-unit
test-unit: ## Unit tests only (no control plane).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/)

##@ Build and run

.PHONY: build
build: ## Build the operator binary into bin/.
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/castware-operator .

.PHONY: run
run: build ## Run the operator against the cluster in $$KUBECONFIG (namespace: NAMESPACE, default castai-agent).
	bin/castware-operator --namespace=$(or $(NAMESPACE),castai-agent) --health-probe-bind-address=:8081

.PHONY: install-crds
install-crds: testbin ## Apply the CRDs to the cluster in $$KUBECONFIG.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
