# Two commands matter: `make demo` (the daemon in simulated-hardware mode) and `make test` (the whole suite).
# Each bootstraps the local virtual environment in .venv the first time (idempotent afterwards).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint docs venv clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ccs,plot,hardware]'
	@touch $(STAMP)

venv: $(STAMP)

# the simulated station, its OCPP client talking to the in-process development CSMS (DEMO_FLAGS=--no-ocpp: without)
demo: $(STAMP)
	$(VENV)/bin/evse sim --config config/sim.toml $(DEMO_FLAGS)

# the independent strict OCPP validator (npm ocpp-rpc) used by tests/ocpp; reinstalled only when the lock changes
VALIDATOR_STAMP := tests/ocpp/validator/node_modules/.package-lock.json

test: $(STAMP) $(VALIDATOR_STAMP)
	$(PY) -m pytest

$(VALIDATOR_STAMP): tests/ocpp/validator/package-lock.json
	cd tests/ocpp/validator && npm ci --no-audit --no-fund --silent

bench: $(STAMP)
	$(VENV)/bin/evse-bench

lint: $(STAMP)
	$(VENV)/bin/ruff check evse tests bench
	$(VENV)/bin/ruff format --check evse tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
