# Baton tasks. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BATON := $(VENV)/bin/baton
SERVICE ?= triage
N ?= 2

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast test-realmodel realmodel-setup lint fmt typecheck check up down scale replay bench eval clean

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv with the `baton` command and dev tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

run: install ## run the pipeline on an embedded Redis, post demo events, show their outcomes
	$(BATON) up --demo --once

test: install ## run the whole test suite (starts its own throwaway Redis servers)
	$(PY) -m pytest

test-fast: install ## the suite without the slow fault tests and the real-model tier
	$(PY) -m pytest -m "not fault and not realmodel"

realmodel-setup: ## the real-model tier's server (.venv-llm/; built once, then from pip's cache) and model
	$(PYTHON) tests/realmodel/provision.py

test-realmodel: install realmodel-setup ## the real-model tier: a 0.5B model behind llama-cpp-python's server
	$(PY) -m pytest -m realmodel tests/realmodel

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install ## format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install ## mypy strict
	$(VENV)/bin/mypy

check: lint typecheck test ## lint, typecheck and test

COMPOSE := docker compose --env-file deploy/redis/credentials.env

deploy/redis/users.acl: | install
	$(BATON) acl --out deploy/redis/users.acl --env-file deploy/redis/credentials.env

up: deploy/redis/users.acl ## docker compose: Redis (AOF always, ACLs), Jaeger and the four services
	$(COMPOSE) up -d --build

down: ## docker compose: stop the stack
	$(COMPOSE) down

scale: ## docker compose: run N workers of SERVICE (make scale SERVICE=triage N=4)
	$(COMPOSE) up -d --no-recreate --scale $(SERVICE)=$(N) $(SERVICE)

bench: install ## benchmark: real services vs the raw Redis ceiling (results in bench-results/)
	$(BATON) bench $(ARGS)

EVAL_BASELINE ?= shared/eval/suites/baseline-offline.json

eval: install ## evaluate the pipeline on the suite, offline, against the committed baseline (ARGS=...)
	$(BATON) eval --provider offline --baseline $(EVAL_BASELINE) $(ARGS)

replay: install ## replay dead letters: make replay ARGS="--reason llm_error --dry-run"
	$(BATON) dlq replay $(or $(ARGS),--all --dry-run)

clean: ## remove the virtual environment and local state
	rm -rf $(VENV) .venv-llm .baton .mypy_cache .ruff_cache .pytest_cache
