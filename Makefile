# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo demo-full test test-slow theory theory-full bench device clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install        ## every family once, with figures, under runs/demo (about 2 minutes)
	$(BIN)/collapse-jax demo --out runs/demo --overwrite

demo-full: install   ## the larger runs behind the README's figures, under runs/demo-full (about 10 minutes)
	$(BIN)/collapse-jax demo --size full --out runs/demo-full --overwrite

# The suite runs in two processes with an unlimited stack: late in one long process that had
# compiled hundreds of programs, XLA:CPU segfaulted (twice, in the sweep tests) while compiling or
# loading a program; each test passes on its own.
test: install        ## the default suite (fast; statistical tolerances from the runs' own standard errors)
	ulimit -s unlimited 2>/dev/null || true; \
	$(BIN)/python -m pytest $(filter-out tests/test_s%.py tests/test_t%.py tests/test_v%.py,$(wildcard tests/test_*.py)) && \
	$(BIN)/python -m pytest $(wildcard tests/test_s*.py tests/test_t*.py tests/test_v*.py)

test-slow: install   ## long statistical runs and large shapes
	$(BIN)/python -m pytest -m slow

theory: install      ## the theorem catalogue at test size
	$(BIN)/python -m theory

theory-full: install ## the catalogue at large chain counts, with a report
	$(BIN)/python -m theory --full --report runs/theory-report

bench: install       ## speed against the peers, printed as ratios measured in one run
	$(BIN)/python -m benchmarks

device:              ## the accelerator suite (one GPU, under 6 minutes; no install needed: see benchmarks/README.md)
	PYTHONPATH=. python -m benchmarks.device

clean:
	rm -rf $(VENV) runs .pytest_cache
