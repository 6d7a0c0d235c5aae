# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow theory theory-full bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install        ## the built-in default runs, with plots, under runs/demo
	$(BIN)/collapse-jax demo --out runs/demo --overwrite

test: install        ## the default suite (fast; statistical tolerances from the runs' own standard errors)
	$(BIN)/python -m pytest

test-slow: install   ## long statistical runs and large shapes
	$(BIN)/python -m pytest -m slow

theory: install      ## the theorem catalogue at test size
	$(BIN)/python -m theory

theory-full: install ## the catalogue at large chain counts, with a report
	$(BIN)/python -m theory --full --report runs/theory-report

bench: install       ## speed against the peers, printed as ratios measured in one run
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
