# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run reset test test-pythons demo lint typecheck check clean browser promtool bench bench-full chaos mutation

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	@touch $(STAMP)

run: $(STAMP)  ## the service on the embedded local stack, until Ctrl-C; `make run` again resumes it
	$(BIN)/python -m streams local

# The local stack keeps its broker log, media and state in .local-stack/ across `make run`s; this
# wipes them (the local media, the schedules and holds, the audit trail) for a fresh start.
reset: $(STAMP)  ## wipe the local stack's data (stop `make run` first)
	$(BIN)/python -m streams reset

demo: $(STAMP)  ## a sample alarm on the stack that `make run` started
	$(BIN)/python -m streams demo

# Four processes, each with its own local stack, a test module each at a time. The end-to-end tests
# mostly wait for deadlines they set, so four at once fit on two cores (TEST_PROCESSES=2 if yours are slow).
TEST_PROCESSES ?= 4
test: $(STAMP) browser promtool  ## the whole suite: unit, integration and end-to-end
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

# The unit suite on the other Pythons the package supports (pyenv's, where CI machines have them).
OTHER_PYTHONS ?= 3.12 3.13
test-pythons:  ## the unit suite on Python 3.12 and 3.13 as well
	@set -e; for version in $(OTHER_PYTHONS); do \
	  python=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$version.*/bin/python 2>/dev/null | tail -n 1); \
	  [ -n "$$python" ] || { echo "Python $$version not found under pyenv"; exit 1; }; \
	  venv=.venv-$$version; \
	  [ -f $$venv/.installed ] || { $$python -m venv $$venv && $$venv/bin/pip install --quiet --upgrade pip \
	    && $$venv/bin/pip install --quiet -e '.[dev]' && touch $$venv/.installed; }; \
	  echo "unit tests on $$($$venv/bin/python --version)"; \
	  $$venv/bin/python -m pytest tests/unit -q -p no:cacheprovider; \
	done

# The dashboard test drives Debian's chromium; install it where we can.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the dashboard test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing and cannot be installed here: the dashboard test will be skipped"; \
	  fi; }

# The alert rules' tests run promtool (Debian's prometheus package has it); install it where we can.
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's prometheus for promtool (the alert rules' tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	  else \
	    echo "promtool is missing and cannot be installed here: the alert rules' tests will fail"; \
	  fi; }

bench: $(STAMP)  ## quick benchmarks against their baselines (under 10 minutes)
	$(BIN)/python -m bench

bench-full: $(STAMP)  ## the full sizes: 100,000 objects due at once, 10,000,000 pending
	$(BIN)/python -m bench --full

chaos: $(STAMP)  ## fault tests at full length under load, with the report table
	$(BIN)/python -m chaos

# Mutation testing: mutmut changes the rules one small way at a time (a < for a <=, a day for a year...) and
# the unit suite must fail on each change. MUTATE names the modules or folders (make mutation MUTATE=handlers/);
# the property test runs MUTATION_EXAMPLES examples instead of its 1000; MUTATION_WORKERS mutants at a time.
# The per-module score ends the run, and a module below MUTATION_MIN_SCORE percent fails it (0: report only);
# `$(BIN)/python tests/mutation_report.py --survivors` then lists each survivor with its change.
MUTATE ?= handlers/policy.py handlers/holds.py handlers/time_passed.py handlers/deletions.py handlers/calendar.py \
	handlers/erasure.py
MUTATION_EXAMPLES ?= 150
MUTATION_WORKERS ?= 1
MUTATION_MIN_SCORE ?= 90
mutation: $(STAMP)  ## mutation score of the retention rules against the unit suite (15-40 minutes)
	rm -rf mutants && mkdir mutants
	@echo "mutmut over $(MUTATE); its output goes to mutants/mutmut.log"
	POLICY_EXAMPLES=$(MUTATION_EXAMPLES) $(BIN)/mutmut run --max-children $(MUTATION_WORKERS) \
	  $(foreach path,$(MUTATE),'$(subst /,.,$(patsubst %.py,%,$(patsubst %/,%,$(path)))).*') \
	  > mutants/mutmut.log 2>&1 || { tail -n 40 mutants/mutmut.log; exit 1; }
	$(BIN)/python tests/mutation_report.py --min-score $(MUTATION_MIN_SCORE) $(MUTATE)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .venv-3.* .state .pytest_cache .mypy_cache .ruff_cache  # the local stack's data: make reset
