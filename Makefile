# ml-connector developer commands. Every target creates/updates .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: install lint test chaos demo bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

# The whole suite: unit, contract (specs from ../shared/specs), state on SQLite and PostgreSQL,
# DAG end to end against the simulators, chaos.
test: lint
	$(PY) -m pytest

# The chaos test alone (also part of make test): seeds 1, 2 and 3, each in order and in daily
# granularity. ML_CONNECTOR_CHAOS_SEEDS=a,b,c picks the seeds, ML_CONNECTOR_CHAOS_GRANULARITY=
# order|daily|alternate (seed 1 order, seed 2 daily, seed 3 order) cuts it down.
chaos: install
	ML_CONNECTOR_CHAOS_GRANULARITY=$${ML_CONNECTOR_CHAOS_GRANULARITY:-both} $(PY) -m pytest tests/chaos -q

# Sets up, starts the simulators, runs bigcommerce_to_peoplesoft end to end, prints the summary line.
demo: install
	$(PY) -m scripts.demo

# Benchmarks (never part of the test suite): writes bench/results/latest.json and prints a table.
bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .demo
