# The two commands a newcomer needs:  make demo  ·  make test
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: setup demo test lint bench-reference

setup:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[all,dev]"
	$(PIP) install -q -c constraints.txt cattrs==25.2.0

demo: setup
	$(PYTHON) -m liteformer demo

test: setup
	$(PYTHON) -m pytest -q -n 2 --dist loadfile  # two workers on two cores; a file's tests stay together
	$(PYTHON) -m ruff check liteformer tests benchmarks

lint:
	$(PYTHON) -m ruff check liteformer tests benchmarks

bench-reference:
	$(PYTHON) benchmarks/reference_teacher.py
