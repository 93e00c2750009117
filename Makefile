# Two entry points for a fresh machine with Python 3.11, pip and make:
#   make demo   install botanu and run the quickstart (no collector needed)
#   make test   install botanu with its test extras and run the whole test suite
# CI also runs `make e2e`: the end-to-end test against a real Arize Phoenix, installed in its own venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Arize Phoenix (about 850 MB) is a test backend, not a dependency: it gets a venv of its own.
PHOENIX_VENV ?= .venv-phoenix
PHOENIX_REQUIREMENT ?= arize-phoenix>=20.26

.PHONY: demo test e2e lint bench clean

# The venv keeps the pip that ships with Python, as most users' do: botanu must install with it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/python examples/quickstart.py

test: $(VENV)/.installed-test
	$(BIN)/ruff check src instrumentors tests examples benchmarks e2e
	$(BIN)/ruff format --check src instrumentors tests examples benchmarks e2e
	$(BIN)/python -m pytest

$(PHOENIX_VENV)/.installed:
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install --quiet "$(PHOENIX_REQUIREMENT)"
	touch $@

# botanu runs from the test venv; Phoenix is started from its own venv by e2e/conftest.py.
e2e: $(VENV)/.installed-test $(PHOENIX_VENV)/.installed
	BOTANU_PHOENIX="$(CURDIR)/$(PHOENIX_VENV)/bin/phoenix" $(BIN)/python -m pytest e2e

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) build dist .pytest_cache .ruff_cache
