"""Compose and run one bot process from the settings: the day-trader or the exit-manager.

In ``sim`` mode the day-trader's pre-market scan reads the same bars the simulated gateway
replays (the bundled demo data or the local bar store); in ``paper`` and ``live`` it reads
the source ``scanner.source`` names: the local bar store, Massive or FMP.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from openbell.config import Settings
from openbell.ports import Calendar, Clock, Ledger
from openbell.runtime import compose
from openbell.runtime.bots import SUPERVISOR_PID_ENV, Bot, BotLoop, StopFlag, session_at
from openbell.runtime.guard import check_connected_accounts
from openbell.runtime.logs import configure_logging, secret_values
from openbell.runtime.scanning import build_scan_source
from openbell.services.exit_desk import ExitDesk
from openbell.services.exits import ExitManager
from openbell.services.rescans import RescanRules
from openbell.services.trading import DayTrader, TradingRules
from openbell.services.watch import TapeWatch
from openbell.strategy.selection import SelectionRules

if TYPE_CHECKING:
    from openbell.adapters.ib.broker import IbBroker

log = logging.getLogger(__name__)

BotRole = Literal["day_trader", "exit_manager"]


def process_name(role: BotRole) -> str:
    return role.replace("_", "-")


def run_bot(role: BotRole, config_file: Path | None = None) -> int:
    """Run one bot until SIGTERM; return its exit code."""
    from openbell.adapters.ib.broker import IbBroker  # noqa: PLC0415 - heavy; bots only

    loaded = compose.settings_from_environment(config_file)
    settings = loaded.settings
    name = process_name(role)
    parent = os.environ.get(SUPERVISOR_PID_ENV)
    configure_logging(
        settings.logging, name, secret_values(settings), supervised=parent is not None
    )
    logging.getLogger("ib_async").setLevel(logging.WARNING)  # its INFO repeats every message
    stop = StopFlag(int(parent) if parent and parent.isdigit() else None)
    stop.install()
    clock, calendar = compose.build_clock(), compose.build_calendar()
    ledger = compose.open_ledger(settings, clock, process=name)
    broker = IbBroker(compose.ib_connection(settings, role), clock)
    account = broker.connection.account

    def check_connection() -> None:
        check_connected_accounts(settings.broker.mode, account, broker.ib.managedAccounts())

    try:
        bot = build_bot(role, settings, ledger, broker, clock, calendar)
        loop = BotLoop(
            bot,
            broker,
            ledger,
            clock,
            calendar,
            settings.runtime,
            stop,
            check_connection=check_connection,
        )
        return loop.run()
    finally:
        broker.disconnect()
        ledger.close()


def build_bot(
    role: BotRole,
    settings: Settings,
    ledger: Ledger,
    broker: IbBroker,
    clock: Clock,
    calendar: Calendar,
) -> Bot:
    if role == "day_trader":
        return build_day_trader(settings, ledger, broker, clock, calendar)
    return build_exit_desk(settings, ledger, broker, clock, calendar)


def build_day_trader(
    settings: Settings, ledger: Ledger, broker: IbBroker, clock: Clock, calendar: Calendar
) -> DayTrader:
    from openbell.runtime.scoring import build_scorer  # noqa: PLC0415 - the LLM SDK: bots only

    scan = build_scan_source(settings, calendar, clock)
    log.info("pre-market scan from %s, scored by %s", scan.describe, settings.scoring.scorer)
    strategy = settings.strategy
    rules = TradingRules(
        plan=settings.day_plan(),
        selection=SelectionRules(strategy.top_n, strategy.tiers()),
        allocation_pct=strategy.allocation_pct,
        stop_loss_pct=strategy.stop_loss_pct,
        protected=settings.protection.symbols(),
        universe=scan.universe,
        entry_grace=timedelta(minutes=settings.runtime.entry_grace_min),
        rescans=rescan_rules(settings),
        scan=settings.scan_filters(),
    )
    return DayTrader(ledger, broker, scan.market, build_scorer(settings, ledger), rules)


def rescan_rules(settings: Settings) -> RescanRules | None:
    """The rescans the settings ask for, or None when ``schedule.rescan_every_min`` is unset."""
    every = settings.schedule.rescan_every_min
    if every is None:
        return None
    return RescanRules(
        every=timedelta(minutes=every),
        max_positions=settings.strategy.rescan_max_positions,
        approval_valid=timedelta(minutes=settings.schedule.approval_valid_min),
    )


def build_exit_desk(
    settings: Settings, ledger: Ledger, broker: IbBroker, clock: Clock, calendar: Calendar
) -> ExitDesk:
    monitored = settings.strategy.exit_mode == "monitored"
    manager = ExitManager(ledger, broker, resting_exits=not monitored, clock=clock)
    watch = None
    if monitored:
        from openbell.adapters.ib.prices import IbPrices  # noqa: PLC0415 - see build_bot

        def in_regular_hours() -> bool:
            now = clock.now()
            session = session_at(calendar, now)
            return session.open <= now < session.close

        watch = TapeWatch(ledger, manager, IbPrices(broker.ib), in_regular_hours)
    return ExitDesk(ledger, manager, settings.day_plan(), watch)
