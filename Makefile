# One entry point for every job. `make test` and `make run` bootstrap .venv from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint typecheck test run bench smoke clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(STAMP): requirements-dev.txt src/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## create .venv with pinned runtime and dev dependencies

PY_DIRS := $(wildcard src tests local bench tools)

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/mypy src local tools

test: lint ## lint, type check, then every test with coverage
	$(PY) -m pytest --cov --cov-report=term $(PYTEST_ARGS)

run: $(STAMP) ## the API on http://127.0.0.1:3000 (PORT=...), demo aggregator + embedded AWS; docs/local-run.md
	$(PY) -m local.run

bench: $(STAMP) ## ours vs the floors and a hand-written peer on loopback (about a minute); writes docs/benchmarks.md and .png
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(PY) -m bench.run $(BENCH_ARGS)

# After a deploy: STACK=<stack name> (reads its ApiUrl output; AWS_REGION as usual) or API_URL=<url>;
# TASK_ID=<a completed task> also checks the 302 and the video. ApiAuth=JWT: SMOKE_BEARER_TOKEN=<jwt>.
smoke: $(STAMP) ## check a deployed API: STACK=<name> or API_URL=<url>, optional TASK_ID=<completed task id>
	$(PY) -m tools.smoke $(if $(STACK),--stack '$(STACK)') $(if $(API_URL),--api-url '$(API_URL)') \
		$(if $(TASK_ID),--task-id '$(TASK_ID)')

# --- SAM: build, deploy, local invoke (section owned by the template work) ---

# aws-sam-cli lives in its own venv (its pins conflict with ours); the stamp installs it once.
SAM_VERSION := 1.170.0
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_VERSION)
# The SAM venv first on PATH: the src/Makefile build target then uses its python/pip.
SAM := PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
EVENT ?= http_api_get.json
SAM_BUILD_ARGS ?=
SAM_DEPLOY_ARGS ?=
SAM_INVOKE_ARGS ?=
.PHONY: sam-install build deploy invoke validate

$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)
	rm -f $(SAM_VENV)/.installed-*
	touch $(SAM_STAMP)

sam-install: $(SAM_STAMP) ## create .venv-sam with the pinned aws-sam-cli

build: $(SAM_STAMP) ## sam build: arm64/python3.13 artifact in .aws-sam/build (no Docker needed)
	$(SAM) build $(SAM_BUILD_ARGS)

deploy: build ## sam build, then sam deploy --guided (needs AWS credentials)
	$(SAM) deploy --guided $(SAM_DEPLOY_ARGS)

invoke: build ## sam local invoke with events/EVENT (default http_api_get.json; needs Docker)
	$(SAM) local invoke LumaVideoFunction -e events/$(EVENT) $(SAM_INVOKE_ARGS)

validate: $(STAMP) $(SAM_STAMP) ## cfn-lint and sam validate --lint on template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint

# --- end SAM ---

clean: ## remove virtualenvs, caches and build output
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
