# Panel's task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTEST_ARGS ?=

.PHONY: help setup up test test-python lint bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: ## Install everything the stack and the tests need (idempotent)
	@bash ci/bootstrap.sh

up: setup ## Run the whole stack locally on embedded defaults (Ctrl-C stops it)
	@uv run --frozen panel stack

test: setup lint test-python ## Install what is needed, then run every test suite

test-python: ## Run the Python test suites (pytest)
	@uv run --frozen pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

lint: ## ruff and mypy over all Python
	@uv run --frozen ruff check .
	@uv run --frozen ruff format --check .
	@uv run --frozen mypy services/panel/src services/backup/src services/healthcheck/src loadtest/src tests

bench: setup ## Benchmarks, each printing ratios measured side by side in one run
	@echo "no benchmarks yet"
