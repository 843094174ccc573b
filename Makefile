# Every target creates the virtualenv and installs openbell first, so each works on a
# fresh machine with only Python 3.11 and access to the package registry.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check bench clean venv

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "openbell needs Python 3.11 or newer, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

## The main job: a simulated trading day and its report. Until the bots land (issue 5) it
## rehearses the day on the real parts, then trades a week of bundled data with the real
## services, every order going through ib_async to the simulated IB gateway.
run: $(STAMP)
	$(BIN)/openbell run
	$(BIN)/openbell backtest --from 2016-04-25 --to 2016-04-29 --via-gateway

## The whole test suite (static checks first).
## The pure core (domain, strategy) must stay fully covered by tests.
test: check
	$(BIN)/python -m pytest -n 2 --cov=openbell.domain --cov=openbell.strategy \
		--cov-report=term-missing:skip-covered --cov-fail-under=100

## Lint, format, types and the architecture's import rules.
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

## Benchmarks print their figures; they never fail on speed.
bench: $(STAMP)
	$(BIN)/python benchmarks/ledger.py
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/tick_to_order.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage var/
