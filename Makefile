# hpotk: `make demo` runs the quickstart experiment, `make test` runs the test suite.
# Both create .venv and install everything the first time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HPOTK := $(VENV)/bin/hpotk
# A CPU build of torch, installed before anything else so that no dependency pulls the multi-GB
# CUDA build. On a GPU machine: make TORCH_SPEC='torch' (or your site's wheel).
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.hpotk-installed

.PHONY: setup demo test lint clean-results

setup: $(STAMP)

$(STAMP): pyproject.toml tools/install_dragonfly.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) tools/install_dragonfly.py
	touch $@

demo: setup
	$(HPOTK) run experiments/quickstart.yaml --exist-ok

test: setup
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check hpotk tests tools
