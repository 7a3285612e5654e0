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

.PHONY: help venv lock chromium demo run test test-fast lint build check-build bench chaos security clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Every venv installs a lock only: hashed, fully pinned requirements written by `make lock` (the one step
# that resolves versions). PIP_LOCKED installs one with pip's hash checking, which also refuses any
# dependency the lock does not pin; the grep drops the notices about find-links folders a pip.conf may name.
PIP_LOCKED = pip install $(PIP_QUIET) --require-hashes -r
QUIET_PIP = 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]} -eq 0

# The development install: requirements-dev.lock (pip, setuptools and uv included), then the layer + local
# stack (`orcid-sync-local`) and the admin CLI (`orcid-sync`, a package of its own in cli/) as editable
# installs, built with the venv's locked setuptools (no build isolation: nothing fetched beside the lock).
$(BIN)/.installed: requirements-dev.lock pyproject.toml cli/pyproject.toml
	@test -n "$(PY313)" || { echo "Python 3.13 not found (looked in ~/.pyenv/versions/3.13* and PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PY313) -m venv $(VENV)
	$(BIN)/python -m $(PIP_LOCKED) requirements-dev.lock $(QUIET_PIP)
	@# -q twice: setuptools notes (as a warning) that a project with two source roots is found through an import hook.
	$(BIN)/python -m pip install $(PIP_QUIET) -q --no-deps --no-build-isolation -e . $(QUIET_PIP)
	$(BIN)/python -m pip install $(PIP_QUIET) --no-deps --no-build-isolation -e ./cli $(QUIET_PIP)
	@touch $@

$(SAMVENV)/bin/.installed: requirements-sam.lock
	@test -x $(SAMVENV)/bin/python || $(PY313) -m venv $(SAMVENV)
	$(SAMVENV)/bin/python -m $(PIP_LOCKED) requirements-sam.lock $(QUIET_PIP)
	@touch $@

venv: $(BIN)/.installed  ## create .venv (Python 3.13) from requirements-dev.lock

# The only step that resolves versions: the inputs (requirements*.txt, cli/pyproject.toml,
# layers/common/requirements.txt) into hashed locks. Pins already in a lock are kept while the inputs allow
# them; LOCK_ARGS=--upgrade (or "--upgrade-package NAME") moves them. The dev lock is universal (any OS);
# the layer's is for the python3.13 runtime on arm64, takes the dev lock's versions (what the tests ran)
# and leaves out what the runtime provides (LAMBDA_RUNTIME_PACKAGES; scripts/check_build.py has the same list).
LOCK_ARGS ?=
LAMBDA_RUNTIME_PACKAGES := boto3 botocore s3transfer jmespath python-dateutil urllib3 six
UV_COMPILE = $(BIN)/uv pip compile --quiet --python-version 3.13 --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
lock: $(BIN)/.installed  ## resolve requirements*.txt into the hashed *.lock files every install uses (LOCK_ARGS=--upgrade)
	$(UV_COMPILE) --universal requirements-dev.txt cli/pyproject.toml -o requirements-dev.lock
	$(UV_COMPILE) --python-platform aarch64-manylinux_2_34 -c requirements-dev.lock \
		$(addprefix --no-emit-package ,$(LAMBDA_RUNTIME_PACKAGES)) layers/common/requirements.txt -o layers/common/requirements.lock
	$(UV_COMPILE) --universal requirements-sam.txt -o requirements-sam.lock
	$(UV_COMPILE) --universal requirements-checkov.txt -o requirements-checkov.lock
	$(BIN)/python scripts/check_build.py --locks

API_PORT ?= 8080
ORCID_PORT ?= 8081
demo: $(BIN)/.installed  ## run the whole system locally and walk through it (connect, tokens, push, pull, reports, feed, invitations)
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

lint: $(BIN)/.installed $(SAMVENV)/bin/.installed  ## ruff, mypy, the import layers (lint-imports), cfn-lint, sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/orcid_sync functions cli/orcid_sync_cli local/orcid_sync_local
	PYTHONPATH=. $(BIN)/lint-imports
	$(SAMVENV)/bin/cfn-lint template.yaml
	PATH="$(abspath $(BIN)):$$PATH" $(SAMVENV)/bin/sam validate --lint --region $(AWS_DEFAULT_REGION)

# The layer builds itself (layers/common/Makefile: the lock, then bytecode); the functions' code is compiled
# here, after sam build, by the venv's Python 3.13 (unchecked-hash .pyc: /var/task is read-only on Lambda).
# MAKEFLAGS is not handed down to the layer's make through sam.
build: $(BIN)/.installed $(SAMVENV)/bin/.installed  ## sam build (python3.13, arm64), bytecode, and check the result against the lock
	env -u MAKEFLAGS -u MFLAGS PATH="$(abspath $(BIN)):$$PATH" $(SAMVENV)/bin/sam build --region $(AWS_DEFAULT_REGION)
	$(BIN)/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash -x '/CommonLayer[^/]*/' .aws-sam/build
	$(BIN)/python scripts/check_build.py .aws-sam/build

BENCH_ARGS ?=
bench: $(BIN)/.installed $(SAMVENV)/bin/.installed  ## benchmarks on the local stack → bench/results.json, BENCHMARKS.md (BENCH_SCALE=0.1 for a small run)
	$(BIN)/python -m bench.run --write-markdown $(BENCH_ARGS)

CHAOS_ARGS ?=
chaos: $(BIN)/.installed  ## push and pull under ORCID faults, crashes and redeliveries; prints what it proved (CI runs a small one)
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# checkov pins a boto3/pydantic of its own, so it lives in a venv of its own.
CHECKOVVENV := .venv-checkov
$(CHECKOVVENV)/bin/.installed: requirements-checkov.lock
	@test -x $(CHECKOVVENV)/bin/python || $(PY313) -m venv $(CHECKOVVENV)
	$(CHECKOVVENV)/bin/python -m $(PIP_LOCKED) requirements-checkov.lock $(QUIET_PIP)
	@touch $@

security: $(BIN)/.installed $(CHECKOVVENV)/bin/.installed  ## checkov on template.yaml, bandit on the code (skips justified in .checkov.yaml, bandit*.yaml)
	BC_SKIP_MAPPING=TRUE $(CHECKOVVENV)/bin/checkov --config-file .checkov.yaml
	$(BIN)/bandit -c bandit.yaml -r layers/common functions cli -q
	$(BIN)/bandit -c bandit-local.yaml -r local -q

clean:  ## remove venvs and build output
	rm -rf $(VENV) $(SAMVENV) $(CHECKOVVENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
