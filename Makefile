# One-command set-up: every target that needs Python creates the environment first.
#   make run    create the environment if needed, then run the pipeline on the bundled data
#   make test   create the environment if needed, then run every test

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PYTHON_VERSION ?= 3.10.13
UV_VERSION := 0.13.9
# Python 3.10 from pyenv (how these machines provide it), else a working one on PATH.
PYTHON310 ?= $(shell PYENV_VERSION=$(PYTHON_VERSION) pyenv which python3.10 2>/dev/null \
	|| (python3.10 -c '' 2>/dev/null && command -v python3.10))

export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export UV_PYTHON_DOWNLOADS := never
# Installed packages ship compiled to bytecode: where PYTHONDONTWRITEBYTECODE is set (as
# on CI machines), every process would otherwise compile TensorFlow's, TFX's and Beam's
# sources again on import (about 5 s per start-up).
export UV_COMPILE_BYTECODE := 1
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# KFP's own backend (API server packages, driver, launcher), built from the Go module
# proxy; the module cache and build cache stay in Go's usual places.
KFP_VERSION := 2.0.5
KFP_MODULE := tests/kfp_backend/kfp-$(KFP_VERSION)
KFP_BIN := build/kfp-$(KFP_VERSION)

.PHONY: help venv servers run test test-fast kfp-tools kfp-check kfp-compile bench bench-scale lint lock data clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -n "$(PYTHON310)" || { echo "error: Python 3.10 not found: install it (pyenv install $(PYTHON_VERSION)) or set PYTHON310=/path/to/python3.10" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync -q --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	@touch $@

venv: $(VENV)/.installed  ## Create or update the environment from the lock file

run: venv  ## Run the whole pipeline on the bundled data (outputs/)
	$(VENV)/bin/penguins run

servers:  ## Install MariaDB and PostgreSQL (Debian packages) for the lineage server tests
	@{ command -v mariadbd || test -x /usr/sbin/mariadbd; } >/dev/null 2>&1 && \
	 { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || \
	 { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   $(SUDO) apt-get install -y -qq mariadb-server postgresql; }

test: venv servers kfp-tools  ## Lint, then run every test (unit, end to end, servers, KFP's backend, the Kubeflow spec locally)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest
	$(MAKE) --no-print-directory kfp-check

$(KFP_BIN)/.built: $(KFP_MODULE)/go.mod $(KFP_MODULE)/go.sum $(wildcard $(KFP_MODULE)/cmd/*/*.go)
	@command -v go >/dev/null || { echo "error: Go not found: install Go 1.24 or later (KFP's backend is built from the Go module proxy)" >&2; exit 1; }
	cd $(KFP_MODULE) && go build -buildvcs=false -trimpath -o $(abspath $(KFP_BIN))/ ./cmd/kfp-apiserver \
	  github.com/kubeflow/pipelines/backend/src/v2/cmd/driver \
	  github.com/kubeflow/pipelines/backend/src/v2/cmd/launcher-v2
	@touch $@

kfp-tools: $(KFP_BIN)/.built  ## Build KFP $(KFP_VERSION)'s API server, driver and launcher (Go module proxy) into build/

kfp-check: venv kfp-tools  ## Deploy the spec to KFP's own API server, then run it with the local KFP v2 conformance runner
	rm -rf outputs/kfp-check
	$(PY) tests/kfp_conformance.py --workdir outputs/kfp-check

kfp-compile: venv  ## Compile kubeflow/pipeline.yaml (IMAGE=..., PIPELINE_ROOT=...)
	$(VENV)/bin/penguins kubeflow compile --image $(or $(IMAGE),penguins:latest) \
	  --pipeline-root $(or $(PIPELINE_ROOT),minio://mlpipeline/penguins)

test-fast: venv  ## Run the unit tests only
	$(VENV)/bin/pytest -m "not e2e"

bench: venv  ## Stock TFX penguin pipeline vs. ours, side by side (outputs/bench/)
	$(PY) -m pipeline.bench --out outputs/bench
	$(PY) -m pipeline.lineage.bench --source outputs/bench/ours/metadata.db --runs 50

bench-scale: venv  ## Ours on synthetic data: SIZES=10000,100000,1000000
	$(PY) -m pipeline.bench --out outputs/bench --skip-compare --scale $(or $(SIZES),10000,100000)

lint: venv  ## Check style with ruff
	$(VENV)/bin/ruff check .

lock: venv  ## Re-resolve requirements.lock from pyproject.toml
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.10 \
	  --python-platform x86_64-unknown-linux-gnu -q -o requirements.lock

data: venv  ## Regenerate data/penguins/span-N/ from the palmerpenguins package
	$(VENV)/bin/penguins data regenerate

clean:  ## Remove outputs (keeps the environment)
	rm -rf outputs
