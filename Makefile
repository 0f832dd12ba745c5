# ordermill: `make run` serves the demo store, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.DEFAULT_GOAL := help
.PHONY: help run test test-pg bench lint typecheck format clean

help:
	@echo "make run    install, migrate, load demo data into an empty store, serve on http://127.0.0.1:8000"
	@echo "make test   install dev dependencies, then lint, type-check and run every test"
	@echo "make test-pg   the same, with every database test on PostgreSQL too (TEST_POSTGRES_URL=...)"
	@echo "make bench  run the benchmark suite (needs wrk and pgbench) and write docs/PERFORMANCE.md"
	@echo "make format apply ruff's formatting and safe fixes"
	@echo "make clean  remove the virtualenv and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/ordermill db upgrade
	$(BIN)/ordermill users ensure-admin
	$(BIN)/ordermill seed --if-empty --customers 40 --products 60 --orders 200 --random-seed 2026
	$(BIN)/ordermill serve

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# The whole suite on SQLite and on a local PostgreSQL server (each run creates and
# drops its own database next to the one named).
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test

test-pg: lint typecheck
	ORDERMILL_TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest

BENCH_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
BENCH_RUNS ?= 3
BENCH_SECONDS ?= 10

bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || { echo "Installing wrk (the load generator) from Debian's packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/suite.py --postgres $(BENCH_POSTGRES_URL) --runs $(BENCH_RUNS) --seconds $(BENCH_SECONDS)

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
