# spansink: the SpanSink operator and the collector it deploys, one binary and one image.

# Image of the operator; collectors default to the same image.
IMG ?= ghcr.io/spansink/spansink:v0.1.0
# Extra flags for `make run`, passed to `spansink manager`.
ARGS ?=
CONTAINER_TOOL ?= docker
KUBECTL ?= kubectl

# Tools, built from the versions pinned in hack/tools/go.mod.
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
TELEMETRYGEN ?= $(LOCALBIN)/telemetrygen
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs

# The default image baked into the binary, so a bare `spansink manager`
# deploys collectors of its own version.
LDFLAGS ?= -s -w -X github.com/spansink/spansink/controllers/manager.DefaultImage=$(IMG)

# Every make recipe runs in one bash with strict settings.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets and what they do.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

# The Prometheus Operator's CRDs the operator creates objects of, generated
# from the monitoring/v1 package at the version go.mod pins, for the envtest
# suite (controllers/suite_test.go installs them while it runs). They are
# regenerated with the manifests, so `make verify` notices a go.mod bump
# that changes them.
MONITORING_CRDS_DIR ?= test/crds/monitoring.coreos.com
MONITORING_CRDS ?= podmonitors servicemonitors prometheusrules

.PHONY: manifests
manifests: controller-gen ## Generate the CRD (config/crd/bases), the manager's ClusterRole (config/rbac/role.yaml), the Prometheus Operator's CRDs the tests install (test/crds), and copy the CRD and roles into the Helm chart (make chart).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(CONTROLLER_GEN) crd paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:artifacts:config="$$tmp"; \
	rm -rf $(MONITORING_CRDS_DIR); mkdir -p $(MONITORING_CRDS_DIR); \
	for kind in $(MONITORING_CRDS); do cp "$$tmp/monitoring.coreos.com_$$kind.yaml" $(MONITORING_CRDS_DIR)/; done
	@$(MAKE) --no-print-directory chart

# The chart renders the CRD and every role's rules from these copies, so
# that they are written once, in config/; make verify fails on a stale copy.
CHART_FILES = charts/spansink/files

.PHONY: chart
chart: ## Copy the CRDs (config/crd/bases), the roles' rules (config/rbac), the manager's monitor and alerts (config/prometheus) and the dashboard (config/grafana) into the Helm chart's files (charts/spansink/files).
	rm -rf $(CHART_FILES)/crds $(CHART_FILES)/rbac $(CHART_FILES)/prometheus $(CHART_FILES)/grafana
	mkdir -p $(CHART_FILES)/crds $(CHART_FILES)/rbac $(CHART_FILES)/prometheus $(CHART_FILES)/grafana
	cp config/grafana/spansink-dashboard.json $(CHART_FILES)/grafana/
	cp config/crd/bases/*.yaml $(CHART_FILES)/crds/
	cp config/rbac/role.yaml config/rbac/*_role.yaml $(CHART_FILES)/rbac/
	cp config/prometheus/monitor.yaml config/prometheus/prometheus_rule.yaml $(CHART_FILES)/prometheus/

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: api-docs
api-docs: crd-ref-docs ## Generate the API reference, docs/api.md, from the Go types' comments and markers (crd-ref-docs; `make verify` checks it is current).
	$(CRD_REF_DOCS) --config hack/api-docs/config.yaml --source-path ./api --renderer markdown \
		--output-path docs/api.md --log-level ERROR

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

# The concurrent parts of the data path, tested again under the race detector.
RACE_PACKAGES ?= ./sink/batch/... ./sink/storage/... ./sink/ingest/... ./sink/collector/... ./sink/reader/... ./sink/objectstore/... ./sink/replay/... ./cmd/...

.PHONY: test
test: manifests generate fmt vet kustomize ## Run every test: unit tests, the envtest suite on a real kube-apiserver and etcd (built once by hack/control-plane.sh), the object store and replay tests on a real SeaweedFS and Jaeger (built once by hack/test-servers.sh), and the Helm chart's tests with the real helm (built once by hack/helm.sh) and kustomize.
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh etcd kube-apiserver | tail -n1)" \
	SPANSINK_TEST_SERVERS_BIN="$$(hack/test-servers.sh seaweedfs jaeger | tail -n1)" \
	SPANSINK_HELM="$$(hack/helm.sh | tail -n1)" SPANSINK_KUSTOMIZE="$(KUSTOMIZE)" \
		go test ./... -coverprofile cover.out
	go test -race $(RACE_PACKAGES)

.PHONY: verify-generated
verify-generated: manifests generate api-docs ## Fail when generated code, manifests, the chart's copies or the API reference differ from what is committed (CI runs this).
	@if [ -n "$$(git status --porcelain -- api config charts test/crds docs/api.md)" ]; then \
		git status --short -- api config charts test/crds docs/api.md; git diff -- api config charts test/crds docs/api.md; \
		echo "generated files are out of date: run 'make manifests generate api-docs' and commit the result" >&2; \
		exit 1; \
	fi

# What verify-fmt checks; tests point it at a scratch directory.
FMT_PATHS ?= .

.PHONY: verify-fmt
verify-fmt: ## Fail when gofmt would change a Go file (CI runs this).
	@unformatted="$$(gofmt -l $(FMT_PATHS))"; \
	if [ -n "$$unformatted" ]; then \
		echo "$$unformatted"; \
		echo "these files are not gofmt-formatted: run 'make fmt' (or gofmt -w) and commit the result" >&2; \
		exit 1; \
	fi

.PHONY: verify
verify: verify-generated verify-fmt ## Everything CI checks before the tests: generated files committed, code gofmt-formatted.

# Each decoder's fuzz target, as package:target; `make fuzz` runs every one
# for FUZZTIME (CI runs them as part of the test command).
FUZZ_TARGETS ?= \
	./sink/ingest:FuzzDecodeOTLPProto \
	./sink/ingest:FuzzDecodeOTLPJSON \
	./sink/ingest:FuzzDecodeDBGPT \
	./sink/ingest:FuzzOTLPProtoWirePath \
	./sink/format:FuzzEncodeOTLPProto \
	./sink/format:FuzzOTLPJSONWirePath \
	./sink/format:FuzzDBGPTDirectMatchesPdata \
	./sink/format:FuzzParseDBGPTTimeAgreesWithTimeParse \
	./sink/format:FuzzRecordScannerMatchesEncodingJSON
FUZZTIME ?= 15s

.PHONY: fuzz
fuzz: ## Run every decoder fuzz target for FUZZTIME each (15s), starting from the corpora in testdata/fuzz; a failure leaves its input there.
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; target=$${t##*:}; \
		echo "fuzz $$target in $$pkg for $(FUZZTIME)"; \
		go test $$pkg -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

##@ End to end

.PHONY: e2e
e2e: manifests telemetrygen ## Run the end-to-end suite (needs root, ~3 min): a real control plane with kube-controller-manager and kube-scheduler, a local node that runs collector pods as processes, the operator, kubectl, helm (the chart) and the samples (test/e2e).
	SPANSINK_CONTROL_PLANE_BIN="$$(hack/control-plane.sh etcd kube-apiserver kube-controller-manager kube-scheduler | tail -n1)" \
	SPANSINK_TEST_SERVERS_BIN="$$(hack/test-servers.sh seaweedfs | tail -n1)" \
	SPANSINK_HELM="$$(hack/helm.sh | tail -n1)" \
		go test -tags e2e ./test/e2e/ -timeout 30m -v -ginkgo.v

.PHONY: test-servers
test-servers: ## Build the real servers tests run, SeaweedFS (weed, S3) and Jaeger v2, from the Go module proxy into the cache (hack/test-servers.sh; ~20 min cold), then run the harness tests of test/s3server and test/jaegerproc on them.
	SPANSINK_TEST_SERVERS_BIN="$$(hack/test-servers.sh seaweedfs jaeger | tail -n1)" \
		go test ./test/s3server/ ./test/jaegerproc/ -count=1 -v

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the spansink binary into bin/, and beside it spansink-collector, which `spansink collector` runs.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(LOCALBIN)/spansink .
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(LOCALBIN)/spansink-collector ./cmd/spansink-collector

.PHONY: run
run: manifests generate fmt vet telemetrygen ## Run the operator against the current kubeconfig's cluster; with none, bring up a local cluster (as root), the operator and the sample SpanSink, and print the endpoints and the span directory.
	go run ./hack/devcluster $(ARGS)

.PHONY: docker-build
docker-build: ## Build the image (operator and collector) as $(IMG).
	$(CONTAINER_TOOL) build --build-arg IMAGE=$(IMG) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push $(IMG).
	$(CONTAINER_TOOL) push $(IMG)

##@ Benchmarks

.PHONY: bench
bench: ## Go benchmarks of the hot path and the span reader's scan rate, a telemetrygen load run over OTLP/gRPC and OTLP/HTTP that checks every span reached the files, Durable acknowledgement, then bench-peer (docs/benchmarks.md).
	go test -run '^$$' -bench . -benchmem ./sink/batch/... ./sink/format/... ./sink/ingest/...
	go test ./cmd/spans/ -run '^$$' -bench . -benchtime 3x
	test/bench/load.sh
	$(MAKE) bench-durable
	$(MAKE) bench-peer

# BENCH_PEER_ARGS are passed to bench-peer, e.g. "-rounds 5",
# "-shapes default,attrs,events,deep,dbgpt" or "-spansink /tmp/spansink-old".
BENCH_PEER_ARGS ?=

.PHONY: bench-peer
bench-peer: ## spansink (dbgpt and otlp-json, Batched and Durable) beside the OpenTelemetry Collector (hack/otelcol.sh) under the same telemetrygen load over OTLP/gRPC and OTLP/HTTP, interleaved, 3 rounds; fails on any lost span (docs/benchmarks.md).
	go run ./test/bench/peer $(BENCH_PEER_ARGS)

.PHONY: bench-durable
bench-durable: ## Durable mode on this disk: acknowledged spans/s and p50/p99 ack latency at 1k, 10k, 50k spans/s and max (docs/benchmarks.md).
	go test ./test/durability/ -run '^$$' -bench DurableAck -benchtime 5s -timeout 30m

# BENCH_OPERATOR_ARGS are passed to both runs of bench-operator, e.g.
# "-binary /tmp/spansink-old" to measure another build, or
# "-manager-args '--max-concurrent-reconciles 8'".
BENCH_OPERATOR_ARGS ?=

.PHONY: bench-operator
bench-operator: ## The real manager binary against envtest's kube-apiserver: 1,000 SpanSinks in 100 namespaces, then 10,000 in 1,000; convergence time, API writes and reads per SpanSink, resync, a batch.size change on all, idle, the manager's CPU and peak RSS (docs/benchmarks.md).
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh etcd kube-apiserver | tail -n1)" \
		go run ./test/bench/operator -sinks 1000 -namespaces 100 $(BENCH_OPERATOR_ARGS)
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh etcd kube-apiserver | tail -n1)" \
		go run ./test/bench/operator -sinks 10000 -namespaces 1000 -converge-timeout 30m $(BENCH_OPERATOR_ARGS)

##@ Durability

.PHONY: durability
durability: ## The long durability run: 50 SIGKILLs per delivery mode under load, SIGTERM under load, full disk (needs root for its tmpfs).
	SPANSINK_CRASH_ITERATIONS=$${SPANSINK_CRASH_ITERATIONS:-50} go test ./test/durability/ -run 'Crash|SIGTERM|FullDisk' -v -count=1 -timeout 60m

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the SpanSink CRD into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the SpanSink CRD (and with it every SpanSink) from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator, running $(IMG), to the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/default | sed 's|ghcr.io/spansink/spansink:v0.1.0|$(IMG)|g' | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator and the CRD from the cluster.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Build controller-gen into bin/.
$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	go build -C hack/tools -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build kustomize into bin/.
$(KUSTOMIZE): hack/tools/go.mod hack/tools/go.sum
	go build -C hack/tools -o $(KUSTOMIZE) sigs.k8s.io/kustomize/kustomize/v5

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Build crd-ref-docs (pinned in hack/tools/crd-ref-docs) into bin/.
$(CRD_REF_DOCS): hack/tools/crd-ref-docs/go.mod hack/tools/crd-ref-docs/go.sum
	go build -C hack/tools/crd-ref-docs -o $(CRD_REF_DOCS) github.com/elastic/crd-ref-docs

.PHONY: helm
helm: ## Build helm (pinned in hack/tools/helm) from the Go module proxy into ~/.cache/spansink (hack/helm.sh; ~6 min cold, then cached), for the chart's tests and `helm install`.
	@hack/helm.sh

.PHONY: telemetrygen
telemetrygen: $(TELEMETRYGEN) ## Build OpenTelemetry's telemetrygen (pinned in hack/tools/telemetrygen) into bin/, to send test spans.
$(TELEMETRYGEN): hack/tools/telemetrygen/go.mod hack/tools/telemetrygen/go.sum
	go build -C hack/tools/telemetrygen -o $(TELEMETRYGEN) github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen
