"""The Broker port over the in-process venue: our vocabulary in, our vocabulary out."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import numpy as np

from openbell.adapters.clock import ManualClock
from openbell.backtest.sim_broker import SimBroker
from openbell.bars.frame import NEW_YORK, DayBars, to_ns
from openbell.domain.broker import OrderUpdate
from openbell.domain.enums import OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.sessions import Session
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol
from openbell.venue import MatchingEngine, VenueConfig, ZeroCommission

DAY = date(2025, 10, 29)


def at(hhmm: str) -> datetime:
    return datetime.combine(DAY, time.fromisoformat(hhmm), NEW_YORK)


def setup() -> tuple[SimBroker, ManualClock]:
    session = Session(DAY, at("09:30"), at("16:00"))
    starts = np.array([to_ns(at("09:30")) + i * 60_000_000_000 for i in range(390)])
    px = np.linspace(10.0, 11.0, 390)
    bars = DayBars("WULF", DAY, 60, starts, px, px + 0.01, px - 0.01, px, np.full(390, 1e6))
    clock = ManualClock(at("08:00"))
    engine = MatchingEngine(VenueConfig(commission=ZeroCommission()))
    broker = SimBroker(engine, clock, starting_equity=Money(Decimal(10_000)))
    broker.load_day(session, {"WULF": bars})
    return broker, clock


def moo(ref: str) -> OrderIntent:
    return OrderIntent(
        OrderRef(ref),
        Symbol("WULF"),
        Side.BUY,
        Quantity(100),
        OrderType.MARKET,
        TimeInForce.AT_THE_OPEN,
        OrderRole.ENTRY,
    )


def test_a_moo_fills_at_the_open_and_changes_net_liquidation_only_by_costs() -> None:
    broker, clock = setup()
    clock.set(at("09:25"))
    broker.place(moo("e1"))
    broker.advance_to(at("09:31"))
    events = broker.events()
    assert [type(e).__name__ for e in events] == ["OrderUpdate", "Fill"]
    fill = events[1]
    assert isinstance(fill, Fill)
    assert (fill.order_ref, fill.price, fill.quantity) == (
        OrderRef("e1"),
        Price(Decimal(10)),
        Quantity(100),
    )
    assert fill.executed_at == at("09:30")
    assert broker.events() == []  # each event once
    assert broker.net_liquidation() == Money(Decimal(10_000))  # shares at cost, no commission


def test_a_moo_after_the_cutoff_comes_back_rejected_with_the_venues_reason() -> None:
    broker, clock = setup()
    clock.set(at("09:29"))
    broker.place(moo("late"))
    (update,) = broker.events()
    assert isinstance(update, OrderUpdate)
    assert update.status is OrderStatus.REJECTED
    assert update.reason.startswith("201 ")


def test_cancelling_an_unknown_ref_does_nothing_and_a_cancel_is_reported() -> None:
    broker, clock = setup()
    broker.cancel(OrderRef("never-placed"))
    assert broker.events() == []
    clock.set(at("09:00"))
    broker.place(moo("e1"))
    broker.cancel(OrderRef("e1"))
    statuses = [e.status for e in broker.events() if isinstance(e, OrderUpdate)]
    assert statuses == [OrderStatus.SUBMITTED, OrderStatus.CANCELLED]
