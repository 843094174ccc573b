"""The composition root: the one place that builds adapters from settings.

Nothing else opens files, databases or clocks on its own; everything is passed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import SIM_ANCHOR_ENV, SimAnchor, SimClock, SystemClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config import LoadedSettings, Settings, load_settings
from openbell.ports import Clock
from openbell.runtime.version import running_code

if TYPE_CHECKING:  # ib_async costs ~100 ms to import: only the processes that trade pay it
    from openbell.adapters.ib.broker import IbBroker, IbConnection


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
        code_version=str(running_code()),
    )


def read_ledger(settings: Settings, clock: Clock, process: str) -> SqliteLedger:
    """Open the configured ledger to read only (the dashboard's pages): SQLite refuses writes."""
    return SqliteLedger.open_read_only(
        settings.ledger.path,
        clock,
        process=process,
        protected_symbols=settings.protection.symbols(),
        busy_timeout_ms=settings.ledger.busy_timeout_ms,
    )


Role = Literal["day_trader", "exit_manager", "dashboard"]


def ib_connection(settings: Settings, role: Role, *, readonly: bool = False) -> IbConnection:
    """Where and as whom ``role`` connects to IB: one client id per role (IB binds each order
    to the client id that placed it, ARCHITECTURE.md §2)."""
    from openbell.adapters.ib.broker import IbConnection  # noqa: PLC0415 - see TYPE_CHECKING

    broker = settings.broker
    account = broker.account.get_secret_value() if broker.account is not None else ""
    return IbConnection(
        host=broker.host,
        port=broker.port,
        client_id=getattr(broker.client_ids, role),
        account=account,
        readonly=readonly or role == "dashboard",
        timeout_s=broker.connect_timeout_s,
    )


def build_broker(settings: Settings, role: Role, clock: Clock) -> IbBroker:
    """The IB adapter for ``role``, connected and reconciled (or BrokerUnavailable)."""
    from openbell.adapters.ib.broker import IbBroker  # noqa: PLC0415 - see TYPE_CHECKING

    broker = IbBroker(ib_connection(settings, role), clock)
    broker.connect()
    return broker
