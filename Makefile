# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   - create .venv, install, run the full cycle on the embedded sandbox (no cloud account)
#   make test   - create .venv, install, run the whole test suite, ruff and mypy
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/headroom demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q
	$(BIN)/ruff check .
	$(BIN)/mypy providers reconciler forecasting policies infra bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy providers reconciler forecasting policies infra bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench.ingest --quick

clean:
	rm -rf $(VENV) build *.egg-info
