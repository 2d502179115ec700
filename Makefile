# Two commands for a newcomer: `make demo` and `make test`. Both bootstrap what they need
# (.venv from PyPI, node_modules from npm) through `make setup`, which is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup demo test lint bench check-infra clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# Azurite (Table/Queue Storage emulator) and the Adaptive Cards renderer, for the tests.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

demo: setup
	$(BIN)/appgw-doctor demo

TYPED := appgw_doctor diagnostics netrules simulator notifications intake state function_app.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)

bench: setup
	$(BIN)/python bench/simulator_bench.py
	$(BIN)/python bench/diagnosis_bench.py
	$(BIN)/python bench/webhook_bench.py

# Security checks of infra/*.bicep (checkov, offline), in a venv of its own: checkov pins versions
# the app's dependencies must not be tied to.
INFRA_VENV := .venv-infra
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP := $(INFRA_VENV)/.checkov-$(CHECKOV_VERSION)

check-infra: $(CHECKOV_STAMP)
	$(INFRA_VENV)/bin/checkov --quiet --compact --skip-download --framework bicep -d infra

$(CHECKOV_STAMP):
	@test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

clean:
	rm -rf $(VENV) $(INFRA_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
