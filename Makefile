# ml-connector developer commands. Every target creates/updates .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: install lint test demo bench clean

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

# Sets up, starts the simulators, runs bigcommerce_to_peoplesoft end to end, prints the summary line.
demo: install
	$(PY) -m scripts.demo

# Benchmarks (never part of the test suite): writes bench/results/latest.json and prints a table.
bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .demo
