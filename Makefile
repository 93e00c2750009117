# Two entry points for a fresh machine with Python 3.11, pip and make:
#   make demo   install botanu and run the quickstart (no collector needed)
#   make test   install botanu with its test extras and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

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
	$(BIN)/ruff check src instrumentors tests examples benchmarks
	$(BIN)/ruff format --check src instrumentors tests examples benchmarks
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
