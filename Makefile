# Kush Films. `make run` sets up and serves; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format bench clean

install: $(STAMP)

# Reinstalls only when the dependency pins change.
$(STAMP): pyproject.toml constraints.txt package.json package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	npm ci --no-audit --no-fund --silent
	touch $(STAMP)

run: install
	$(BIN)/kushfilms migrate
	$(BIN)/kushfilms demo
	$(BIN)/kushfilms serve

# The suite runs on SQLite, and again on PostgreSQL + Redis when
# KF_TEST_POSTGRES_URL and KF_TEST_REDIS_URL are set (see README).
test: install
	$(BIN)/python -m pytest -n auto --dist loadgroup --cov --cov-report=term $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/api_catalog.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/billing.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
