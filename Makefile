# The two commands of the README: `make serve` and `make test`. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Build llama.cpp for any x86-64 with AVX2, not just this CPU, so pip's cached wheel stays usable.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE := 1

.PHONY: install serve test test-all lint browser eval-smoke report-screenshot

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

# Debian's Chromium and a CJK font, for the test that opens the eval report in a real browser.
browser:
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei; }

# Debian's PostgreSQL server, for the tests that run a throwaway cluster (they skip without it).
.PHONY: postgres
postgres:
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq postgresql; }

test: install lint browser postgres
	$(BIN)/python -m pytest
	$(MAKE) eval-smoke

# The prompt-regression gate: the smoke cases on the embedded model; fails on any check
# violation, an error, or a pass-rate or assertion-score drop against evals/baseline.json.
eval-smoke: install
	$(BIN)/copydesk eval --tag smoke --concurrency 1 --gate --out evals/out/smoke

# A picture of the last report, for people: evals/out/report.png (kept out of git).
report-screenshot: browser
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
	  --window-size=1280,2400 --screenshot=evals/out/report.png file://$(CURDIR)/evals/out/report.html

test-all: install
	$(BIN)/python -m pytest -m ""
