# Two entry points for a fresh machine with Python 3.11, pip and make:
#   make demo   install botanu and run the quickstart (no collector needed)
#   make test   install botanu with its test extras and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

# pip 23.x cannot resolve the OpenTelemetry contrib family (its packages pin each other exactly and
# releases are sometimes partial); pip >= 24 finds a consistent set from botanu's lower bounds.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,flows]"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/python examples/quickstart.py

test: $(VENV)/.installed-test
	$(BIN)/ruff check src instrumentors tests examples benchmarks
	$(BIN)/ruff format --check src instrumentors tests examples benchmarks
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
