# One entry point for every job. `make test` and `make run` bootstrap .venv from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint typecheck test run bench clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(STAMP): requirements-dev.txt src/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## create .venv with pinned runtime and dev dependencies

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check src tests bench local
	$(VENV)/bin/ruff format --check src tests bench local
	$(VENV)/bin/mypy src local

test: lint ## lint, type check, then every test with coverage
	$(PY) -m pytest --cov --cov-report=term $(PYTEST_ARGS)

# --- SAM: build, deploy, local invoke (section owned by the template work) ---

# --- end SAM ---

clean: ## remove virtualenvs, caches and build output
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
