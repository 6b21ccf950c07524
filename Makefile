# Quick start:  make train   (train on MNIST, bundled sample when offline)
#               make test    (run the test suite)
# Each target creates .venv the first time it runs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: train test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/fastnn train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests $(ARGS)

bench: $(STAMP)
	$(BIN)/fastnn bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
