# orcid-sync — every target installs what it needs. No Docker, no AWS credentials.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13: pyenv's install first (its shim may not be active), else whatever is on PATH.
PY313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
VENV := .venv
SAMVENV := .venv-sam
BIN := $(VENV)/bin
PIP_QUIET := --quiet --disable-pip-version-check
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# Keep pytest, the local stack and sam build from ever reaching real AWS.
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help venv chromium demo run test test-fast lint build check-build bench chaos security clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The development install: pinned dependencies, then the layer + local stack (`orcid-sync-local`) and the
# admin CLI (`orcid-sync`, a package of its own in cli/) as editable installs, one after the other.
$(BIN)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml cli/pyproject.toml
	@test -n "$(PY313)" || { echo "Python 3.13 not found (looked in ~/.pyenv/versions/3.13* and PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PY313) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip install $(PIP_QUIET) -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0
	@# -qq: setuptools notes (as a warning) that a project with two source roots is found through an import hook.
	$(BIN)/pip install $(PIP_QUIET) -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/pip install $(PIP_QUIET) --no-deps -e ./cli 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0
	@touch $@

$(SAMVENV)/bin/.installed: requirements-sam.txt
	@test -x $(SAMVENV)/bin/python || $(PY313) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install $(PIP_QUIET) -r requirements-sam.txt 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0
	@touch $@

venv: $(BIN)/.installed  ## create .venv (Python 3.13) with pinned dependencies

API_PORT ?= 8080
ORCID_PORT ?= 8081
demo: $(BIN)/.installed  ## run the whole system locally and walk through it (connect, tokens, push, pull, reports)
	$(BIN)/python -m orcid_sync_local.demo

run: $(BIN)/.installed  ## run the local stack with a demo researcher (API_PORT=8080 ORCID_PORT=8081); Ctrl-C stops it
	$(BIN)/orcid-sync-local up --port $(API_PORT) --orcid-port $(ORCID_PORT) --seed-demo

# Debian's Chromium for the browser tests (never a test tool's own download). Installed here, up front,
# so that no test installs system packages; apt waits for another dpkg to finish instead of failing.
CHROMIUM := /usr/bin/chromium
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests ..."
	$(if $(filter 0,$(shell id -u)),,sudo) $(APT_GET) update
	$(if $(filter 0,$(shell id -u)),,sudo) $(APT_GET) install -y --no-install-recommends chromium >/dev/null

chromium: $(CHROMIUM)  ## install Debian's Chromium (make test does)

# The tiers run in parallel (pytest-xdist, one worker per core); tests that start stacks use free ports.
PYTEST_WORKERS ?= auto
test: $(BIN)/.installed $(CHROMIUM)  ## run the whole test suite (unit, integration, stack, e2e) in parallel
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

lint: $(BIN)/.installed $(SAMVENV)/bin/.installed  ## ruff, mypy, cfn-lint, sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/orcid_sync functions cli/orcid_sync_cli local/orcid_sync_local
	$(SAMVENV)/bin/cfn-lint template.yaml
	PATH="$(abspath $(BIN)):$$PATH" $(SAMVENV)/bin/sam validate --lint --region $(AWS_DEFAULT_REGION)

build: $(BIN)/.installed $(SAMVENV)/bin/.installed  ## sam build (python3.13, arm64) and check the layer's binaries
	PATH="$(abspath $(BIN)):$$PATH" $(SAMVENV)/bin/sam build --region $(AWS_DEFAULT_REGION)
	$(BIN)/python scripts/check_build.py .aws-sam/build

BENCH_ARGS ?=
bench: $(BIN)/.installed $(SAMVENV)/bin/.installed  ## benchmarks on the local stack → bench/results.json, BENCHMARKS.md (BENCH_SCALE=0.1 for a small run)
	$(BIN)/python -m bench.run --write-markdown $(BENCH_ARGS)

CHAOS_ARGS ?=
chaos: $(BIN)/.installed  ## push and pull under ORCID faults, crashes and redeliveries; prints what it proved (CI runs a small one)
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# checkov pins a boto3/pydantic of its own, so it lives in a venv of its own.
CHECKOVVENV := .venv-checkov
$(CHECKOVVENV)/bin/.installed: requirements-checkov.txt
	@test -x $(CHECKOVVENV)/bin/python || $(PY313) -m venv $(CHECKOVVENV)
	$(CHECKOVVENV)/bin/pip install $(PIP_QUIET) -r requirements-checkov.txt 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0
	@touch $@

security: $(BIN)/.installed $(CHECKOVVENV)/bin/.installed  ## checkov on template.yaml, bandit on the code (skips justified in .checkov.yaml, bandit*.yaml)
	BC_SKIP_MAPPING=TRUE $(CHECKOVVENV)/bin/checkov --config-file .checkov.yaml
	$(BIN)/bandit -c bandit.yaml -r layers/common functions cli -q
	$(BIN)/bandit -c bandit-local.yaml -r local -q

clean:  ## remove venvs and build output
	rm -rf $(VENV) $(SAMVENV) $(CHECKOVVENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
