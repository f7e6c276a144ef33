# One Makefile for platform engineers, data scientists, CI and auditors.
# Every target creates .venv on first use and installs the project from pyproject.toml.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_BIN := node_modules/.bin
STACK ?= dev
PYTEST_ARGS ?=

.PHONY: setup test test-fast lint format demo bench render audit clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project with its test extras

test: $(STAMP) ## run every test, slow end-to-end ones included
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## the quick loop: everything but the tests marked slow
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

render: $(STAMP) ## write the offline resource graph of STACK to build/graph-STACK.json
	$(BIN)/mlops infra render --stack $(STACK) --out build/graph-$(STACK).json

demo: $(STAMP) ## the embedded release on this machine, no AWS account needed
	$(BIN)/mlops demo

bench: $(STAMP) ## benchmarks with ratios against reference implementations
	$(BIN)/python -m benchmarks

clean:
	rm -rf build .pytest_cache
