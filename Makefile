# Every target creates the virtualenv and installs openbell first, so each works on a
# fresh machine with only Python 3.11 and access to the package registry.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check bench clean venv audit

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "openbell needs Python 3.11 or newer, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

## The main job: one simulated trading day on the bundled data (supervisor, simulated IB
## Gateway, day-trader and exit-manager as separate processes on a shared x120 clock), with
## the live view and the day's report at the end. Its files go to var/sim-day/.
run: $(STAMP)
	rm -rf var/sim-day && mkdir -p var/sim-day
	cd var/sim-day && OPENBELL__LEDGER__PATH=ledger.sqlite OPENBELL__LOGGING__DIRECTORY=logs \
		../../$(BIN)/openbell run --mode sim --day 2016-04-29 --days 1 --speed 120

## The whole test suite (static checks first).
## The pure core (domain, strategy) must stay fully covered by tests.
test: check
	$(BIN)/python -m pytest -n 2 --cov=openbell.domain --cov=openbell.strategy \
		--cov-report=term-missing:skip-covered --cov-fail-under=100

## Lint, format, types, the architecture's import rules, and known vulnerabilities in the pins
## (a pin the advisory service cannot be asked about is a loud warning here, a failure in audit).
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/audit_deps.py

## Known vulnerabilities in the pinned dependencies (pip-audit against PyPI's advisory data),
## strict: it needs PyPI's JSON API, and a package it cannot check fails, never passes.
audit: $(STAMP)
	$(BIN)/python scripts/audit_deps.py --strict

## Benchmarks print their figures; they never fail on speed.
bench: $(STAMP)
	$(BIN)/python benchmarks/ledger.py
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/tick_to_order.py
	$(BIN)/python benchmarks/venue.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage var/
