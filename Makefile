# Quick start:  make train   (train on MNIST, bundled sample when offline)
#               make test    (run the test suite, slow tests left out; under 5 minutes)
# Each target creates .venv the first time it runs.
#   make test-slow   the slow tests only (subprocess CLI runs, long trainings)
#   make test-all    every test
#   make mutation    mutation testing with cosmic-ray (long; see tests/MUTANTS.md)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# derandomised hypothesis examples, no example database (tests/conftest.py)
PYTEST  = $(BIN)/python -m pytest -q -p no:cacheprovider --hypothesis-profile=ci

.PHONY: train test test-slow test-all mutation bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/fastnn train $(ARGS)

test: $(STAMP)
	$(PYTEST) -m "not slow" tests $(ARGS)

test-slow: $(STAMP)
	$(PYTEST) -m slow tests $(ARGS)

test-all: $(STAMP)
	$(PYTEST) tests $(ARGS)

$(VENV)/.mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	touch $@

# MODULES="kernels/softmax.py ..." to run some modules only (default: all of tests/mutation.py's list)
mutation: $(VENV)/.mutation
	$(BIN)/python -m tests.mutation $(MODULES)

bench: $(STAMP)
	$(BIN)/fastnn bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks mutation
