"""The composition root: the one place that builds adapters from settings.

Nothing else opens files, databases or clocks on its own; everything is passed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from openbell import __version__
from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import SIM_ANCHOR_ENV, SimAnchor, SimClock, SystemClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config import LoadedSettings, Settings, load_settings
from openbell.ports import Clock


def settings_from_environment(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> LoadedSettings:
    """Load settings from the file, ``.env`` and this process's environment."""
    return load_settings(config_file, environ=os.environ if environ is None else environ)


def build_clock(environ: Mapping[str, str] | None = None) -> Clock:
    """The shared accelerated clock when a sim anchor is set, else the system clock."""
    env = os.environ if environ is None else environ
    if SIM_ANCHOR_ENV in env:
        return SimClock(SimAnchor.from_env(env))
    return SystemClock()


def build_calendar() -> ExchangeCalendar:
    return ExchangeCalendar.nyse()


def open_ledger(
    settings: Settings, clock: Clock, process: str, path: Path | None = None
) -> SqliteLedger:
    """Open the configured ledger (or ``path``) for ``process``, with protection applied."""
    return SqliteLedger.open(
        path or settings.ledger.path,
        clock,
        process=process,
        protected_symbols=settings.protection.symbols(),
        busy_timeout_ms=settings.ledger.busy_timeout_ms,
        code_version=__version__,
    )
