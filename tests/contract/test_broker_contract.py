"""The Broker port's contract, run against every implementation.

Each scenario runs on the in-process SimBroker and on the IB adapter talking to
``openbell gateway`` over loopback through the real ib_async. Both must report the same fills
(order, side, shares, price, time, commission) and end each order in the same status; each
scenario also pins the fills the venue's rules give, so the two cannot agree on a mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal

import numpy as np
import pytest
from broker_harnesses import GatewayHarness, Harness, SimHarness

from openbell.bars.frame import NEW_YORK, DayBars, to_ns
from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.sessions import Session
from openbell.domain.values import OrderRef, Price, Quantity, Symbol
from openbell.venue import FixedCommission, NoSlippage, VenueConfig

DAY = date(2025, 10, 29)
SESSION = None  # built lazily below (Session needs aware times)
VENUE = VenueConfig(commission=FixedCommission(), slippage=NoSlippage(), max_volume_share=0.25)


def at(hhmm: str) -> datetime:
    return datetime.combine(DAY, time.fromisoformat(hhmm), NEW_YORK)


def session() -> Session:
    return Session(DAY, at("09:30"), at("16:00"))


def bars(path: Sequence[tuple[float, float, float, float]], volume: float = 1e6) -> DayBars:
    """Minute bars from 09:30 with these (open, high, low, close); flat at the last close after."""
    rows = list(path) + [(path[-1][3],) * 4] * (390 - len(path))
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    starts = np.array([to_ns(at("09:30")) + i * 60_000_000_000 for i in range(390)])
    return DayBars("WULF", DAY, 60, starts, o, h, lo, c, np.full(390, volume))


def intent(
    ref: str,
    kind: OrderType,
    *,
    role: OrderRole = OrderRole.ENTRY,
    qty: int = 100,
    tif: TimeInForce = TimeInForce.DAY,
    limit: str | None = None,
    stop: str | None = None,
    oca: str | None = None,
) -> OrderIntent:
    return OrderIntent(
        OrderRef(ref),
        Symbol("WULF"),
        Side.BUY if role is OrderRole.ENTRY else Side.SELL,
        Quantity(qty),
        kind,
        tif,
        role,
        limit_price=None if limit is None else Price(Decimal(limit)),
        stop_price=None if stop is None else Price(Decimal(stop)),
        oca_group=oca,
    )


def moo(ref: str = "ob-20251029-WULF-1-entry", qty: int = 100) -> OrderIntent:
    return intent(ref, OrderType.MARKET, qty=qty, tif=TimeInForce.AT_THE_OPEN)


HARNESSES = {"sim": SimHarness, "gateway": GatewayHarness}


@pytest.fixture(params=sorted(HARNESSES))
def make(request: pytest.FixtureRequest) -> Iterator[Callable[[DayBars], Harness]]:
    made: list[Harness] = []

    def build(day_bars: DayBars) -> Harness:
        harness = HARNESSES[request.param](at("08:00"), session(), {"WULF": day_bars}, VENUE)
        made.append(harness)
        return harness

    yield build
    for harness in made:
        harness.close()


def fills(
    events: Sequence[BrokerEvent],
) -> list[tuple[str, str, int, Decimal, datetime, Decimal | None]]:
    return [
        (
            str(e.order_ref),
            str(e.side),
            e.quantity.value,
            e.price.value,
            e.executed_at,
            None if e.commission is None else e.commission.amount,
        )
        for e in events
        if isinstance(e, Fill)
    ]


def final_status(events: Sequence[BrokerEvent]) -> dict[str, OrderStatus]:
    out: dict[str, OrderStatus] = {}
    for e in events:
        if isinstance(e, OrderUpdate):
            out[str(e.order_ref)] = e.status
    return out


RISE = [(10.0, 10.05, 9.98, 10.02)] * 5 + [(10.02, 10.40, 10.01, 10.35)] + [(10.35,) * 4] * 4


def test_a_moo_fills_at_the_opening_print(make: Callable[[DayBars], Harness]) -> None:
    h = make(bars([(10.0, 10.05, 9.95, 10.02)]))
    h.advance_to(at("09:00"))
    h.place(moo())
    h.advance_to(at("09:31"))
    events = h.events()
    assert fills(events) == [
        ("ob-20251029-WULF-1-entry", "BUY", 100, Decimal("10.0000"), at("09:30"), Decimal("1.0000"))
    ]
    assert final_status(events) == {"ob-20251029-WULF-1-entry": OrderStatus.SUBMITTED}


def test_a_bracket_target_fills_and_the_oca_stop_is_cancelled(
    make: Callable[[DayBars], Harness],
) -> None:
    h = make(bars(RISE))
    h.advance_to(at("09:00"))
    h.place(moo())
    h.advance_to(at("09:31"))
    target = intent(
        "ob-20251029-WULF-1-target",
        OrderType.LIMIT,
        role=OrderRole.TARGET,
        limit="10.30",
        oca="oca-1",
    )
    stop = intent(
        "ob-20251029-WULF-1-stop", OrderType.STOP, role=OrderRole.STOP, stop="9.80", oca="oca-1"
    )
    h.place(target)
    h.place(stop)
    h.advance_to(at("09:40"))
    events = h.events()
    assert fills(events)[1:] == [
        (
            "ob-20251029-WULF-1-target",
            "SELL",
            100,
            Decimal("10.3000"),
            at("09:36"),
            Decimal("1.0000"),
        )
    ]
    status = final_status(events)
    assert status["ob-20251029-WULF-1-stop"] is OrderStatus.CANCELLED
    assert status["ob-20251029-WULF-1-target"] is OrderStatus.SUBMITTED


def test_a_stop_through_a_gap_fills_at_the_worse_open(make: Callable[[DayBars], Harness]) -> None:
    path = [(10.0, 10.02, 9.97, 10.0)] * 4 + [(9.50, 9.60, 9.40, 9.55)]
    h = make(bars(path))
    h.advance_to(at("09:00"))
    h.place(moo())
    h.advance_to(at("09:31"))
    h.place(intent("ob-20251029-WULF-1-stop", OrderType.STOP, role=OrderRole.STOP, stop="9.90"))
    h.advance_to(at("09:36"))
    assert fills(h.events())[1:] == [
        ("ob-20251029-WULF-1-stop", "SELL", 100, Decimal("9.5000"), at("09:34"), Decimal("1.0000"))
    ]


def test_a_cancel_that_loses_the_race_leaves_the_fill_and_no_cancellation(
    make: Callable[[DayBars], Harness],
) -> None:
    h = make(bars(RISE))
    h.advance_to(at("09:00"))
    h.place(moo())
    h.advance_to(at("09:31"))
    ref = "ob-20251029-WULF-1-target"
    h.place(intent(ref, OrderType.LIMIT, role=OrderRole.TARGET, limit="10.30"))
    h.advance_unheard(at("09:36"))  # the target fills; the broker has not heard yet
    h.cancel(OrderRef(ref))  # so this cancel races the fill, and loses
    h.advance_to(at("09:37"))
    events = h.events()
    assert [f[0] for f in fills(events)] == ["ob-20251029-WULF-1-entry", ref]
    assert final_status(events)[ref] is OrderStatus.SUBMITTED


def test_a_cancel_in_time_cancels(make: Callable[[DayBars], Harness]) -> None:
    h = make(bars(RISE))
    h.advance_to(at("09:00"))
    h.place(moo())
    h.advance_to(at("09:31"))
    ref = "ob-20251029-WULF-1-target"
    h.place(intent(ref, OrderType.LIMIT, role=OrderRole.TARGET, limit="10.30"))
    h.advance_to(at("09:33"))
    h.cancel(OrderRef(ref))
    h.advance_to(at("09:40"))
    events = h.events()
    assert [f[0] for f in fills(events)] == ["ob-20251029-WULF-1-entry"]
    assert final_status(events)[ref] is OrderStatus.CANCELLED


def test_a_moo_after_the_cutoff_is_rejected(make: Callable[[DayBars], Harness]) -> None:
    h = make(bars(RISE))
    h.advance_to(at("09:29"))
    h.place(moo())
    h.advance_to(at("09:31"))
    events = h.events()
    assert fills(events) == []
    assert final_status(events) == {"ob-20251029-WULF-1-entry": OrderStatus.REJECTED}
    (update,) = [e for e in events if isinstance(e, OrderUpdate)]
    assert update.reason.startswith("201 ")


def test_a_limit_order_larger_than_a_quarter_of_each_bar_fills_in_parts(
    make: Callable[[DayBars], Harness],
) -> None:
    h = make(bars([(10.0, 10.05, 9.95, 10.0)] * 10, volume=400))
    h.advance_to(at("09:31"))
    ref = "ob-20251029-WULF-1-entry"
    h.place(intent(ref, OrderType.LIMIT, qty=250, limit="10.05"))
    h.advance_to(at("09:40"))
    parts = fills(h.events())
    assert [(f[2], f[3], f[4]) for f in parts] == [
        (100, Decimal("10.0000"), at("09:31")),
        (100, Decimal("10.0000"), at("09:32")),
        (50, Decimal("10.0000"), at("09:33")),
    ]


def test_reconcile_reports_an_order_never_seen_as_rejected_and_repeats_nothing(
    make: Callable[[DayBars], Harness],
) -> None:
    h = make(bars(RISE))
    h.advance_to(at("09:00"))
    h.place(moo())
    h.advance_to(at("09:31"))
    assert [f[0] for f in fills(h.events())] == ["ob-20251029-WULF-1-entry"]
    lost = "ob-20251029-WULF-9-entry"  # recorded by an earlier life, never sent
    h.reconcile([OrderRef("ob-20251029-WULF-1-entry"), OrderRef(lost)])
    h.advance_to(at("09:32"))
    again = h.events()
    assert final_status(again) == {lost: OrderStatus.REJECTED}
    assert fills(again) == []
