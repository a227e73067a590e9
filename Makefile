# Panel's task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Go (for the chart and cluster toolchains) lives here on Debian images that ship it outside PATH.
export PATH := $(PATH):/usr/local/go/bin
PYTEST_ARGS ?=
SCENARIO ?= smoke
WORKERS ?= 0
PANEL_URL ?= http://127.0.0.1:8000

.PHONY: help setup tools up test test-python lint e2e cluster-up cluster-down images test-images bench \
        bench-panel bench-backup bench-health bench-loadtest loadtest kustomize bench-checks bench-ui

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

setup: ## Install everything the stack and the tests need (idempotent; fast the second time)
	@bash ci/bootstrap.sh

up: setup ## Run the whole stack locally on embedded defaults (Ctrl-C stops it)
	@uv run --frozen panel stack

test: setup lint test-python ## Install what is needed, lint, then run every test suite but the cluster and image tiers

tools: ## Build the pinned chart toolchain (Helm 3/4, ct, kubeconform, ...) into the cache, once per machine
	@bash ci/tools.sh >/dev/null

# The cluster (e2e) and image tiers have their own targets; .ci/run runs them after `make test`.
# On a new machine the chart toolchain (ci/tools.sh, about 11 minutes cold) builds in the background, at
# low priority, while the suites that do not need it run: tests/conftest.py runs tests/backup and
# tests/chart last, and their fixtures' own ci/tools.sh call waits for the build (one lock per cache).
# Warm, ci/tools.sh returns in well under a second.
test-python: ## Run the pytest suites (panel, backup, healthcheck, loadtest, chart static tier)
	@tools_log=$$(mktemp); nice -n 10 bash ci/tools.sh >/dev/null 2>"$$tools_log" & tools=$$!; \
	  uv run --frozen pytest -m "not e2e and not images" $(PYTEST_ARGS); status=$$?; \
	  if ! wait $$tools; then cat "$$tools_log" >&2; echo "error: ci/tools.sh failed (above)" >&2; status=1; fi; \
	  rm -f "$$tools_log"; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

kustomize: setup ## Regenerate deploy/kustomize (the kustomize base and overlays) from charts/panel
	@bash ci/tools.sh >/dev/null
	@uv run --frozen python ci/chart/kustomize.py

lint: ## ruff and mypy over all Python
	@uv run --frozen ruff check .
	@uv run --frozen ruff format --check .
	@uv run --frozen mypy services/panel/src services/backup/src services/healthcheck/src loadtest/src libs/service-settings/src \
	  services/panel/benchmarks services/backup/benchmarks services/healthcheck/benchmarks loadtest/benchmarks tests \
	  ci/cluster

e2e: setup ## Prove the chart on a real control plane with kwok nodes, then on a real node (toolchain built once)
	@bash ci/cluster/build.sh >/dev/null
	@bash ci/cluster/node-tools.sh >/dev/null
	@bash ci/tools.sh >/dev/null
	@uv run --frozen pytest tests/e2e -m e2e $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no e2e tests" >&2; exit 1; fi; exit $$status

# The images a person usually wants on the node: ours and the PostgreSQL/Redis stand-ins.
NODE_IMAGES := panel backup healthcheck loadtest node-postgres node-redis
cluster-up: setup ## Start a real one-node Kubernetes (root) with our images imported; `make cluster-down` stops it
	@bash ci/cluster/build.sh >/dev/null
	@bash ci/cluster/node-tools.sh >/dev/null
	@bash ci/tools.sh >/dev/null
	@bash ci/images.sh $(NODE_IMAGES) >/dev/null
	@uv run --frozen python ci/cluster/node_cluster.py up $$(bash ci/images.sh --tags $(NODE_IMAGES))

cluster-down: ## Stop the one-node cluster and remove what it made (namespace, pods, mounts; sysctls restored)
	@uv run --frozen python ci/cluster/node_cluster.py down

images: setup ## Build the four images with podman and print their sizes
	@bash ci/images.sh

test-images: images ## Run every image as the chart does, against real services
	@PANEL_IMAGES_PREBUILT=1 uv run --frozen pytest tests/images -m images $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no image tests" >&2; exit 1; fi; exit $$status

# make exits 2 for any failing recipe, so the tool's own code (99 = SLO breached) cannot pass through make:
# panel-loadtest prints it in words and writes it to <report dir>/exit-code; pipelines call the tool directly.
loadtest: setup ## Load-test a running stack (needs LOADTEST_PASSWORD): make loadtest SCENARIO=smoke|load|stress|spike|endurance [WORKERS=2]
	@uv run --frozen panel-loadtest run --scenario $(SCENARIO) --host $(PANEL_URL) --workers $(WORKERS) $(LOADTEST_ARGS) || { \
	  code=$$?; echo "make: for exit code $$code itself run: uv run --frozen panel-loadtest run ..." >&2; exit $$code; }

bench: bench-panel bench-checks bench-ui bench-backup bench-health bench-loadtest ## Every benchmark (ratios measured side by side)

bench-panel: setup ## Panel: cached GET /api/v2/servers vs a bare Flask endpoint, same gunicorn, wrk
	@uv run --frozen python services/panel/benchmarks/bench_api.py

bench-checks: setup ## Checks: a 10,000-server round on one worker (closed, black-holed, slow ports) vs a bare asyncio loop; Check now p95 during it (root)
	@uv run --frozen python services/panel/benchmarks/bench_checks.py $(BENCH_ARGS)

bench-ui: setup ## UI: server list with 10,000 servers and server page with 43,200 checks (server time, vs the API)
	@uv run --frozen python services/panel/benchmarks/bench_ui.py $(BENCH_ARGS)

bench-backup: setup tools ## Backups: pg_dump/pg_restore vs panel-backup (SCALE=70 is about 1 GB), idle and one core busy, file:// and S3, 320 MB of random files
	@uv run --frozen python services/backup/benchmarks/bench_backup.py --scale $(or $(SCALE),70) $(BENCH_ARGS)

bench-health: setup ## Exporter: scrape latency, CPU per scrape, hung-dependency deadline
	@uv run --frozen python services/healthcheck/benchmarks/bench_exporter.py

bench-loadtest: setup ## Load generation capacity of the user classes vs a bare FastHttpUser
	@uv run --frozen python loadtest/benchmarks/bench_generation.py $(BENCH_ARGS)
