"""Faults injected by the simulated gateway, absorbed by the IB adapter.

The same day runs once cleanly and once with a fault: an entry MOO, then a target and a
stop in one OCA group, the target filling at 09:36. With each fault the adapter must end
with the same fills (ledger-visible: what ``events()`` reported, each execution once), the
account must end with the same positions at the gateway, and no order may reach the
gateway twice.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

import numpy as np
import pytest
from broker_harnesses import GatewayHarness

from openbell.adapters.ib.prices import IbPrices
from openbell.bars.frame import DayBars, to_ns
from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.errors import BrokerUnavailable
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import OrderRef, Price, Quantity, Symbol
from openbell.venue import FixedCommission, NoSlippage, VenueConfig
from openbell.venue.tws.faults import Fault, FaultKind

DAY = date(2025, 10, 29)
VENUE = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())
ENTRY, TARGET, STOP = (f"ob-20251029-WULF-1-{role}" for role in ("entry", "target", "stop"))


def at(hhmm: str) -> datetime:
    return datetime.combine(DAY, time.fromisoformat(hhmm), NEW_YORK)


def day_bars() -> DayBars:
    """Calm from the open, a rise through 10.30 in the 09:35 bar, then flat."""
    rows = [(10.0, 10.05, 9.98, 10.02)] * 5 + [(10.02, 10.40, 10.01, 10.35)]
    rows += [(10.35,) * 4] * (390 - len(rows))
    o, h, lo, c = (np.array(col) for col in zip(*rows, strict=True))
    starts = np.array([to_ns(at("09:30")) + i * 60_000_000_000 for i in range(390)])
    return DayBars("WULF", DAY, 60, starts, o, h, lo, c, np.full(390, 1e6))


def order(ref: str, kind: OrderType, **prices: str) -> OrderIntent:
    role = (
        OrderRole.ENTRY if ref == ENTRY else OrderRole.TARGET if ref == TARGET else OrderRole.STOP
    )
    tif = TimeInForce.AT_THE_OPEN if ref == ENTRY else TimeInForce.DAY
    return OrderIntent(
        OrderRef(ref),
        Symbol("WULF"),
        Side.BUY if ref == ENTRY else Side.SELL,
        Quantity(100),
        kind,
        tif,
        role,
        limit_price=Price(Decimal(prices["limit"])) if "limit" in prices else None,
        stop_price=Price(Decimal(prices["stop"])) if "stop" in prices else None,
        oca_group=None if ref == ENTRY else "oca-1",
    )


@dataclass
class Outcome:
    fills: list[tuple[str, int, Decimal, datetime]]
    statuses: dict[str, OrderStatus]
    positions: dict[str, int]
    sent: Counter[str]
    reconnects: int
    sequence: list[tuple[str, str]]
    """What the adapter reported, in order: (order ref, FILL or the status)."""
    codes: list[int]
    """Every IB message code the client received."""


def run_day(fault: Fault | None = None, *, cancel_target_at: str | None = None) -> Outcome:
    h = GatewayHarness(
        at("08:00"), Session(DAY, at("09:30"), at("16:00")), {"WULF": day_bars()}, VENUE
    )
    events: list[BrokerEvent] = []
    codes: list[int] = []
    h.broker.ib.errorEvent += lambda _req, code, _text, _contract: codes.append(code)
    try:
        h.advance_to(at("09:00"))
        h.place(order(ENTRY, OrderType.MARKET))
        h.advance_to(at("09:31"))
        h.place(order(TARGET, OrderType.LIMIT, limit="10.30"))
        h.place(order(STOP, OrderType.STOP, stop="9.80"))
        for minute in range(32, 41):
            now = f"09:{minute}"
            if fault is not None and fault.at == at(now):
                h.server.run(lambda: h.server.gateway.inject(fault))
            h.advance_to(at(now))
            if not h.broker.ready:
                h.recover()
            if cancel_target_at == now:
                h.cancel(OrderRef(TARGET))
            events.extend(h.events())
        h.recover()
        h.advance_to(at("09:45"))
        events.extend(h.events())
        gateway = h.server.gateway
        positions = {s: p.quantity for s, p in gateway.engine.positions().items()}
        sent = Counter(o.order_ref for _client, o in gateway.received_orders)
        sequence = [
            (str(e.order_ref), "FILL" if isinstance(e, Fill) else str(e.status)) for e in events
        ]
        return Outcome(
            _fills(events),
            _statuses(events),
            positions,
            sent,
            h.broker.reconnects,
            sequence,
            codes,
        )
    finally:
        h.close()


def _fills(events: list[BrokerEvent]) -> list[tuple[str, int, Decimal, datetime]]:
    return [
        (str(e.order_ref), e.quantity.value, e.price.value, e.executed_at)
        for e in events
        if isinstance(e, Fill)
    ]


def _statuses(events: list[BrokerEvent]) -> dict[str, OrderStatus]:
    return {str(e.order_ref): e.status for e in events if isinstance(e, OrderUpdate)}


@pytest.fixture(scope="module")
def clean() -> Outcome:
    outcome = run_day()
    assert outcome.fills == [
        (ENTRY, 100, Decimal("10.0000"), at("09:30")),
        (TARGET, 100, Decimal("10.3000"), at("09:36")),
    ]
    assert outcome.statuses[STOP] is OrderStatus.CANCELLED  # by the OCA group
    assert outcome.positions == {}
    assert outcome.sent == Counter({ENTRY: 1, TARGET: 1, STOP: 1})
    return outcome


def assert_same_as_clean(faulty: Outcome, clean: Outcome) -> None:
    assert faulty.fills == clean.fills  # each execution reported once, none lost
    assert faulty.positions == clean.positions
    assert faulty.sent == clean.sent  # no order sent twice


@pytest.mark.parametrize("when", ["09:33", "09:36"])
def test_a_dropped_socket_is_reconnected_and_reconciled(clean: Outcome, when: str) -> None:
    # At 09:36 the drop comes before the target's fill is told: only reqExecutions finds it.
    faulty = run_day(Fault(FaultKind.DROP, at(when)))
    assert faulty.reconnects >= 1
    assert_same_as_clean(faulty, clean)
    assert faulty.statuses[STOP] is OrderStatus.CANCELLED


@pytest.mark.parametrize("kind", [FaultKind.OUTAGE_DATA_LOST, FaultKind.OUTAGE_DATA_KEPT])
def test_an_ib_outage_holds_news_until_restored(clean: Outcome, kind: FaultKind) -> None:
    faulty = run_day(Fault(kind, at("09:36"), seconds=0.2))
    assert_same_as_clean(faulty, clean)
    assert faulty.sequence == clean.sequence
    assert faulty.reconnects == 0  # the socket stayed up; only IB's side was away
    restored = 1101 if kind is FaultKind.OUTAGE_DATA_LOST else 1102
    assert [c for c in faulty.codes if c >= 1100 and c < 1200] == [1100, restored]


@pytest.mark.parametrize("kind", [FaultKind.TIF_PRESET, FaultKind.LATE_NOT_FOUND])
def test_codes_that_ib_async_takes_for_a_cancel_do_not_end_the_order(
    clean: Outcome, kind: FaultKind
) -> None:
    # ib_async 2.1.0 marks the stop Cancelled on 10349 or an unasked 10147; it lives on.
    faulty = run_day(Fault(kind, at("09:33")))
    assert_same_as_clean(faulty, clean)
    assert faulty.sequence == clean.sequence  # the stop ends by the OCA, after the fill
    assert int(kind.value[-5:]) in faulty.codes


def test_a_fill_told_after_the_cancel_still_counts(clean: Outcome) -> None:
    plain = run_day(cancel_target_at="09:37")
    faulty = run_day(Fault(FaultKind.FILL_AFTER_CANCEL, at("09:32")), cancel_target_at="09:37")
    assert plain.fills == faulty.fills == clean.fills
    assert (TARGET, "CANCELLED") not in plain.sequence  # it knew of the fill: no cancel sent
    assert (TARGET, "CANCELLED") in faulty.sequence  # told Cancelled first, then the fill
    assert faulty.sequence.index((TARGET, "CANCELLED")) < faulty.sequence.index((TARGET, "FILL"))
    assert plain.positions == faulty.positions == {}
    assert faulty.sent == clean.sent


def test_a_held_fill_is_told_in_the_end_when_nobody_cancels_its_order(clean: Outcome) -> None:
    # Held for ever, the fault lost the fill of a flatten's market order, which no client
    # cancels (day 72 of the 200-day chaos run): IB reports every fill in the end.
    faulty = run_day(Fault(FaultKind.FILL_AFTER_CANCEL, at("09:32")))
    assert faulty.fills == clean.fills
    assert (TARGET, "FILL") in faulty.sequence
    assert (TARGET, "CANCELLED") not in faulty.sequence
    assert faulty.positions == clean.positions == {}
    assert faulty.sent == clean.sent


def test_a_gateway_restart_keeps_working_orders(clean: Outcome) -> None:
    faulty = run_day(Fault(FaultKind.RESTART, at("09:33"), seconds=0.2))
    assert faulty.reconnects >= 1
    assert_same_as_clean(faulty, clean)
    assert faulty.sequence == clean.sequence


def test_a_cancelled_status_before_its_201_is_still_a_rejection() -> None:
    h = GatewayHarness(
        at("08:00"), Session(DAY, at("09:30"), at("16:00")), {"WULF": day_bars()}, VENUE
    )
    try:
        h.server.run(lambda: h.server.gateway.inject(Fault(FaultKind.CANCELLED_BEFORE_REJECT)))
        h.advance_to(at("09:29"))  # after the 09:28 auction cutoff
        h.place(order(ENTRY, OrderType.MARKET))
        updates = [e for e in h.events() if isinstance(e, OrderUpdate)]
    finally:
        h.close()
    assert [(u.status, u.reason[:4]) for u in updates] == [(OrderStatus.REJECTED, "201 ")]


def test_no_order_is_sent_while_ib_is_unreachable() -> None:
    h = GatewayHarness(
        at("08:00"), Session(DAY, at("09:30"), at("16:00")), {"WULF": day_bars()}, VENUE
    )
    try:
        h.advance_to(at("09:00"))
        h.server.run(lambda: h.server.gateway.inject(Fault(FaultKind.OUTAGE_DATA_KEPT, seconds=60)))
        h.settle()
        with pytest.raises(BrokerUnavailable, match="not connected and reconciled"):
            h.place(order(ENTRY, OrderType.MARKET))
        assert h.server.gateway.received_orders == []
        h.server.run(lambda: h.server.gateway.connectivity_restored(data_lost=False))
        h.settle()
        h.recover()
        h.place(order(ENTRY, OrderType.MARKET))
        assert [o.order_ref for _c, o in h.server.gateway.received_orders] == [ENTRY]
    finally:
        h.close()


def test_price_subscriptions_are_made_again_after_1101() -> None:
    h = GatewayHarness(
        at("08:00"), Session(DAY, at("09:30"), at("16:00")), {"WULF": day_bars()}, VENUE
    )
    prices: list[tuple[str, Decimal]] = []
    try:
        feed = IbPrices(h.broker.ib)
        feed.subscribe(Symbol("WULF"), lambda s, p: prices.append((s.value, p.value)))
        h.settle()  # the subscription reaches the gateway at 08:00
        h.advance_to(at("09:31"))
        # The 09:30 bar's open, its low, high and close at its end, then the 09:31 bar's open.
        expected = ("10.00", "9.98", "10.05", "10.02", "10.00")
        assert prices == [("WULF", Decimal(p)) for p in expected]
        before = set(h.server.gateway.market.subscriptions)
        lost = Fault(FaultKind.OUTAGE_DATA_LOST, seconds=0.05)
        h.server.run(lambda: h.server.gateway.inject(lost))
        h.settle()  # 1100 is read: orders pause
        assert not h.broker.ready
        h.recover()  # 1101 comes 50 ms later
        # The gateway dropped the old subscription at 1101; the adapter made a new one.
        after = set(h.server.gateway.market.subscriptions)
        assert feed.resubscriptions == 1
        assert len(after) == 1
        assert after.isdisjoint(before)
        prices.clear()
        h.advance_to(at("09:36"))
        assert ("WULF", Decimal("10.4000")) in prices  # the 09:35 bar's high, seen again
    finally:
        h.close()


def test_a_connection_reset_by_a_dying_gateway_is_reconnected_not_raised() -> None:
    # A gateway killed with unread bytes resets its sockets (RST, not FIN): ib_async then
    # raises ConnectionError out of its sleep, which once ended the bot process.
    h = GatewayHarness(
        at("08:00"), Session(DAY, at("09:30"), at("16:00")), {"WULF": day_bars()}, VENUE
    )
    try:
        h.advance_to(at("09:00"))

        def reset_every_session() -> None:
            for session in list(h.server.gateway.sessions.values()):
                sock = session.writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                session.writer.transport.abort()

        h.server.run(reset_every_session)
        for _ in range(10):
            h.broker.pump(0.02)  # reads the reset: never raises, reconnects after its backoff
        h.recover()
        assert h.broker.reconnects == 1
        h.place(order(ENTRY, OrderType.MARKET))
        assert [o.order_ref for _c, o in h.server.gateway.received_orders] == [ENTRY]
    finally:
        h.close()
