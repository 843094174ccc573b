"""Step the two bots' services minute by minute over the in-process venue, in one process.

Each broker event goes to the bot that owns its order, as IB routes it to the client id that
placed it: entries to the day-trader, exits to the exit desk; news of an order the ledger
does not know is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from openbell.adapters.clock import ManualClock
from openbell.backtest.sim_broker import SimBroker
from openbell.domain.broker import BrokerEvent
from openbell.domain.enums import OrderRole
from openbell.domain.errors import NotFound
from openbell.domain.sessions import Session
from openbell.ports import Ledger
from openbell.services.exit_desk import ExitDesk
from openbell.services.trading import DayTrader


class BotsDay(Protocol):
    """What a test's day rig holds (its bots may be replaced between calls)."""

    clock: ManualClock
    broker: SimBroker
    ledger: Ledger
    trader: DayTrader
    desk: ExitDesk
    session: Session


def run_minutes(day: BotsDay, end: datetime) -> None:
    """Advance the clock a minute at a time to ``end``, stepping the venue and both bots."""
    while day.clock.now() < end:
        now = day.clock.set(day.clock.now() + timedelta(minutes=1))
        day.broker.advance_to(now)
        route(day, day.broker.events())
        day.trader.step(now, day.session)
        day.desk.step(now, day.session)
        route(day, day.broker.events())


def route(day: BotsDay, events: Sequence[BrokerEvent]) -> None:
    for event in events:
        try:
            role = day.ledger.order(event.order_ref).role
        except NotFound:
            continue
        if role is OrderRole.ENTRY:
            day.trader.apply([event])
        else:
            day.desk.apply([event], day.session.trading_day)
