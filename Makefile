# Songji: the two commands are `make run` and `make test`; both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# The Ralph LRS the xAPI test starts: its pins conflict with the project's, so its own venv.
RALPH_VENV := .venv-ralph
RALPH_STAMP := $(RALPH_VENV)/.installed

.PHONY: run up test lint unit install clean schemas bench fuzz chaos

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

$(RALPH_STAMP): tests/lrs-requirements.txt
	$(PYTHON) -m venv $(RALPH_VENV)
	$(RALPH_VENV)/bin/pip install --quiet -r tests/lrs-requirements.txt
	touch $(RALPH_STAMP)

install: $(STAMP)

# The Fukang class end to end on embedded servers: prints the totals, stops, exits 0.
run: $(STAMP)
	$(BIN)/songji run

# A system that stays up for exploration (OpenAPI pages at /docs) until Ctrl-C.
up: $(STAMP)
	$(BIN)/songji up

test: $(BENCH_STAMP) $(RALPH_STAMP)
	$(BIN)/ruff check shared services songji tests bench chaos
	$(BIN)/pytest -ra

unit: $(STAMP)
	$(BIN)/pytest -ra tests/unit

# The long API fuzzing run; `make test` runs a few examples per operation.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	SONGJI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -ra -s -p no:logging \
		tests/integration/test_api_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check shared services songji tests bench chaos

# Not part of `make test`: minutes of load on embedded servers. `make bench ARGS=--quick` for
# a smoke run; see docs/benchmarks.md.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(ARGS)

# Not part of `make test` (which runs a small version): the Fukang class played twice, cleanly
# and while services are killed, the broker restarts empty and events arrive twice, out of
# order and malformed; exits non-zero on anything lost or duplicated. See docs/chaos.md.
chaos: $(STAMP)
	$(BIN)/python -m chaos --json chaos/results/latest.json $(ARGS)

schemas: $(STAMP)
	$(BIN)/songji schemas write

clean:
	rm -rf $(VENV) $(RALPH_VENV) .pytest_cache
