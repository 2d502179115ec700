# Two commands for a newcomer: `make demo` and `make test`. Both bootstrap what they need
# (.venv from PyPI, node_modules from npm) through `make setup`, which is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup demo test lint bench check-infra lock package clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements.lock requirements-dev.txt pyproject.toml
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

TYPED := core model appgw_doctor diagnostics remediation netrules simulator notifications intake state function_app.py

test: lint
	$(BIN)/python -m pytest -q

# ruff, mypy, and the layers (import-linter contracts in pyproject.toml: base -> features -> app).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/lint-imports

# The pinned set deployment installs, resolved from requirements.txt; the last line records which
# requirements.txt it was made from, and tests/test_dependencies.py fails when that is stale.
lock: setup
	$(BIN)/pip-compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras \
		--annotation-style=line --output-file requirements.lock requirements.txt
	@echo "# made from requirements.txt sha256 $$(sha256sum requirements.txt | cut -d' ' -f1)" >> requirements.lock

bench: setup
	$(BIN)/python bench/simulator_bench.py
	$(BIN)/python bench/diagnosis_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/state_bench.py
	$(BIN)/python bench/crash_bench.py
	$(BIN)/python bench/size_bench.py
	$(BIN)/python bench/sweep_bench.py
	$(BIN)/python bench/remediation_bench.py

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

# What is deployed (docs/DEPLOYMENT.md): the app's packages without the simulator, and the locked
# requirements as the package's requirements.txt, staged in build/app and zipped as build/app.zip.
APP_PACKAGES := core model appgw_doctor diagnostics remediation netrules notifications intake state

package: setup
	rm -rf build/app build/app.zip && mkdir -p build/app
	cp -r function_app.py host.json $(APP_PACKAGES) build/app/
	cp requirements.lock build/app/requirements.txt
	find build/app -name __pycache__ -prune -exec rm -rf {} +
	cd build/app && ../../$(BIN)/python -m zipfile -c ../app.zip $$(ls -A)

clean:
	rm -rf build $(VENV) $(INFRA_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
