# The two commands of the README: `make serve` and `make test`. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Build llama.cpp for any x86-64 with AVX2, not just this CPU, so pip's cached wheel stays usable.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE := 1

.PHONY: install serve test test-all lint

$(BIN)/copydesk: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/copydesk

serve: install
	$(BIN)/copydesk serve

lint: install
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/ruff format --check app tests benchmarks

test: install lint
	$(BIN)/python -m pytest

test-all: install
	$(BIN)/python -m pytest -m ""
