# Songji: the two commands are `make run` and `make test`; both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dev lock holds the bench extra too.
BENCH_STAMP := $(STAMP)
# Every dependency pinned with its files' hashes (deploy/lock.py): make installs the dev lock,
# the production image requirements.lock. `make lock` makes both again after a change to the
# dependencies in pyproject.toml; until then make refuses to install, saying so.
DEV_LOCK := requirements-dev.lock
UV_VERSION := 0.13.8
# The Ralph LRS the xAPI test starts: its pins conflict with the project's, so its own venv.
RALPH_VENV := .venv-ralph
RALPH_STAMP := $(RALPH_VENV)/.installed

.PHONY: run up test lint unit install clean schemas bench fuzz chaos lock browser

$(STAMP): pyproject.toml $(DEV_LOCK)
	@$(PYTHON) deploy/lock.py check
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(RALPH_STAMP): tests/lrs-requirements.txt
	$(PYTHON) -m venv $(RALPH_VENV)
	$(RALPH_VENV)/bin/pip install --quiet -r tests/lrs-requirements.txt
	touch $(RALPH_STAMP)

install: $(STAMP)

lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet uv==$(UV_VERSION)
	$(PYTHON) deploy/lock.py write --uv .venv-lock/bin/uv

# The Fukang class end to end on embedded servers: prints the totals, stops, exits 0.
run: $(STAMP)
	$(BIN)/songji run

# A system that stays up for exploration (OpenAPI pages at /docs) until Ctrl-C.
up: $(STAMP)
	$(BIN)/songji up

# The browser tests drive Debian's Chromium: installed here when running as root and missing;
# otherwise they must be there already (README), and the tests fail without them.
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk
browser:
	@if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null \
	    || ! fc-list :lang=zh | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	  else echo "browser tests need: apt-get install $(BROWSER_PACKAGES) (as root)" >&2; fi; \
	fi

test: $(BENCH_STAMP) $(RALPH_STAMP) browser
	$(BIN)/ruff check shared services songji tests bench chaos console
	$(BIN)/pytest -ra

unit: $(STAMP)
	$(BIN)/pytest -ra tests/unit

# The long API fuzzing run; `make test` runs a few examples per operation.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	SONGJI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -ra -s -p no:logging \
		tests/integration/test_api_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check shared services songji tests bench chaos console

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
	rm -rf $(VENV) $(RALPH_VENV) .venv-lock .pytest_cache
