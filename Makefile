# Songji: the two commands are `make run` and `make test`; both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit install clean schemas fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/songji up

test: $(STAMP)
	$(BIN)/ruff check shared services tests
	$(BIN)/pytest -ra

unit: $(STAMP)
	$(BIN)/pytest -ra tests/unit

# The long API fuzzing run; `make test` runs a few examples per operation.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	SONGJI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -ra -s -p no:logging --timeout 0 \
		tests/integration/test_api_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check shared services tests

schemas: $(STAMP)
	$(BIN)/songji schemas write

clean:
	rm -rf $(VENV) .pytest_cache
