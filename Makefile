# ModelPlane developer entry points. `make demo` and `make test` are the two
# commands a fresh machine needs; everything they need is built here (heavy
# builds are cached outside the checkout, see hack/localcluster/localcluster/build.py).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCALCLUSTER := PYTHONPATH=hack/localcluster $(PY) -m localcluster
export KUBECONFIG := $(CURDIR)/.localcluster/kubeconfig
export PATH := $(CURDIR)/.localcluster/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv crds crds-check lint test test-unit test-integration cluster-up cluster-down \
        cluster-build demo bench bench-tools clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## Python virtual environment with the project and its dev tools

crds: venv ## Generate the CRD and the chart's copy from the pydantic models
	$(PY) hack/gen-crds.py

crds-check: venv ## Fail when the committed CRDs differ from the models
	$(PY) hack/gen-crds.py --check

lint: venv ## ruff, mypy --strict, import-linter layers, hadolint, go vet
	$(VENV)/bin/ruff check operator tests hack bench
	$(VENV)/bin/ruff format --check operator
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile runtime/Dockerfile
	cd hack/localcluster/nodeagent && go vet ./... && test -z "$$(gofmt -l .)"

cluster-build: venv ## Build (or find cached) control plane, node agent, helm, kubeconform
	$(LOCALCLUSTER) build

cluster-up: venv ## Start the local cluster (builds what it needs; harmless when already up)
	$(LOCALCLUSTER) up

cluster-down: venv ## Stop the local cluster and remove everything it made
	$(LOCALCLUSTER) down

test-unit: venv ## Unit tier: pure code, no cluster
	$(PY) -m pytest tests/unit -q
	cd hack/localcluster/nodeagent && go test ./...

test-integration: venv cluster-build vllm ## Integration tier on the local cluster (started if needed)
	$(PY) -m pytest tests/integration -q -p no:cacheprovider

.PHONY: vllm test-runtime
vllm: venv ## vLLM for CPU in a venv cached outside the checkout (about 5 min cold, then instant)
	$(PY) hack/vllm/install.py

test-runtime: venv vllm ## Runtime tier: the launcher with real vLLM on CPU, S3 and hub on loopback
	$(PY) -m pytest tests/runtime -q -p no:cacheprovider

test: lint crds-check test-unit test-runtime test-integration ## Every tier (what CI runs)

demo: venv vllm ## Local cluster, operator, examples/ Ready, then a real completion from the tiny model
	$(PY) hack/demo.py

bench-tools: ## nginx and wrk from apt for bench/gateway.py (skipped when both are on PATH)
	{ command -v nginx && command -v wrk; } >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx wrk; }

bench: venv cluster-build vllm bench-tools ## Benchmarks under bench/ on the local cluster (tables on stdout)
	PYTHONPATH=$(CURDIR):$(CURDIR)/hack/localcluster $(PY) bench/localcluster.py
	PYTHONPATH=$(CURDIR):$(CURDIR)/hack/localcluster $(PY) bench/reconcile.py
	PYTHONPATH=$(CURDIR):$(CURDIR)/hack/localcluster $(PY) bench/coldstart.py
	$(PY) bench/gateway.py
	$(PY) bench/rollout.py

clean: cluster-down
	rm -rf $(VENV) build dist
