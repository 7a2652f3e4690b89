# Quietline: `make demo` sets up and shows the system; `make test` sets up and checks it;
# `make check` is the fast inner loop (no slow system tests, lighter Hypothesis, parallel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test check lint typecheck unit bench fuzz clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)
	@./scripts/install-chromium.sh

demo: $(STAMP)
	$(BIN)/quietline demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks fuzz examples
	$(BIN)/ruff format --check src tests benchmarks fuzz examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	@./scripts/install-chromium.sh
	$(BIN)/pytest

test: lint typecheck unit

check: lint typecheck
	$(BIN)/pytest -m "not slow and not fuzz" --hypothesis-profile=check -n auto

bench: $(STAMP)
	$(BIN)/python benchmarks/open_messages.py
	$(BIN)/python benchmarks/mixer_open.py
	$(BIN)/python benchmarks/mixer_drain.py
	$(BIN)/python benchmarks/mixing_delay.py
	$(BIN)/python benchmarks/n_minus_one.py
	$(BIN)/python benchmarks/edge_flood.py
	$(BIN)/python benchmarks/edge_forms.py
	$(BIN)/python benchmarks/edge_store.py
	$(BIN)/python benchmarks/client_desk.py
	$(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/edge_accept.py

# The long fuzzing run (docs/testing.md): ten minutes of atheris over every parser, keeping
# its corpus in .fuzz/, then schemathesis with 500 examples per operation and mode.
fuzz: $(STAMP)
	$(BIN)/python -m fuzz.parsers --seconds $(or $(FUZZ_SECONDS),600) --corpus .fuzz/corpus
	QUIETLINE_OPENAPI_EXAMPLES=$(or $(OPENAPI_EXAMPLES),500) $(BIN)/pytest tests/edge/test_openapi.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .fuzz
