"""The IB adapter's edges, against ``openbell gateway`` over loopback with the real ib_async."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal

import numpy as np
import pytest
from broker_harnesses import GatewayHarness
from ib_async import LimitOrder, Stock

from openbell.adapters.clock import ManualClock
from openbell.adapters.ib.broker import IbBroker, IbConnection
from openbell.bars.frame import DayBars, to_ns
from openbell.config import load_settings
from openbell.domain.enums import OrderRole, OrderType, Side, TimeInForce
from openbell.domain.errors import BrokerUnavailable, InvalidValue, InvariantBroken
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import Money, OrderRef, Quantity, Symbol
from openbell.runtime.compose import ib_connection
from openbell.venue import FixedCommission, NoSlippage, VenueConfig
from openbell.venue.tws import answers
from openbell.venue.tws.answers import ExecutionView
from openbell.venue.tws.faults import Fault, FaultKind

DAY = date(2025, 10, 29)
VENUE = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())


def at(hhmm: str) -> datetime:
    return datetime.combine(DAY, time.fromisoformat(hhmm), NEW_YORK)


def flat(price: float) -> DayBars:
    starts = np.array([to_ns(at("09:30")) + i * 60_000_000_000 for i in range(390)])
    px = np.full(390, price)
    return DayBars("WULF", DAY, 60, starts, px, px + 0.1, px - 0.1, px, np.full(390, 1e6))


def harness() -> GatewayHarness:
    return GatewayHarness(
        at("08:00"), Session(DAY, at("09:30"), at("16:00")), {"WULF": flat(10.0)}, VENUE
    )


def moo(ref: str) -> OrderIntent:
    return OrderIntent(
        OrderRef(ref),
        Symbol("WULF"),
        Side.BUY,
        Quantity(10),
        OrderType.MARKET,
        TimeInForce.AT_THE_OPEN,
        OrderRole.ENTRY,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def client_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """ib_async's synchronous calls run this thread's loop: a fresh one, closed afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.mark.usefixtures("client_loop")
def test_no_gateway_is_a_clear_retry_later_error() -> None:
    broker = IbBroker(
        IbConnection(port=free_port(), client_id=3, timeout_s=1), ManualClock(at("08:00"))
    )
    with pytest.raises(
        BrokerUnavailable, match=r"could not connect to IB at 127\.0\.0\.1:\d+ as client 3"
    ):
        broker.connect()
    assert not broker.ready
    with pytest.raises(BrokerUnavailable):
        broker.place(moo("ob-20251029-WULF-1-entry"))


def test_a_readonly_connection_reads_but_never_places() -> None:
    h = harness()
    try:
        watcher = IbBroker(
            IbConnection(port=h.server.port, client_id=30, account="DU0000001", readonly=True),
            h.clock,
        )
        watcher.connect()
        assert watcher.net_liquidation() == Money(Decimal("100000.00"))
        with pytest.raises(InvalidValue, match="readonly"):
            watcher.place(moo("ob-20251029-WULF-1-entry"))
        assert h.server.gateway.received_orders == []
        watcher.disconnect()
    finally:
        h.close()


def test_orders_and_fills_that_are_not_ours_are_never_reported() -> None:
    h = harness()
    try:
        h.place(moo("ob-20251029-WULF-1-entry"))
        # The user's own order on the same client id, without an openbell reference.
        manual = LimitOrder("BUY", 5, 10.5, orderRef="my long-term buy")
        h.broker.ib.placeOrder(Stock("WULF", "SMART", "USD"), manual)
        h.settle()
        h.advance_to(at("09:31"))
        events = h.events()
        assert {str(e.order_ref) for e in events} == {"ob-20251029-WULF-1-entry"}
        assert [e.quantity.value for e in events if isinstance(e, Fill)] == [10]
        assert h.server.gateway.engine.positions()["WULF"].quantity == 15  # both did fill
    finally:
        h.close()


def test_each_role_connects_with_its_own_client_id_from_settings() -> None:
    settings = load_settings(
        None,
        environ={
            "OPENBELL__BROKER__PORT": "4102",
            "OPENBELL__BROKER__ACCOUNT": "DU7777777",
            "OPENBELL__BROKER__CLIENT_IDS__EXIT_MANAGER": "12",
        },
    ).settings
    trader = ib_connection(settings, "day_trader")
    exits = ib_connection(settings, "exit_manager")
    dashboard = ib_connection(settings, "dashboard")
    assert (trader.port, trader.client_id, trader.account) == (4102, 2, "DU7777777")
    assert exits.client_id == 12
    assert dashboard.readonly and not trader.readonly
    assert "DU7777777" not in repr(settings)  # the account id stays masked in settings


def test_an_unknown_ref_cancel_sends_nothing() -> None:
    h = harness()
    try:
        h.cancel(OrderRef("ob-20251029-WULF-9-target"))
        assert h.events() == []
        assert h.server.gateway.received_orders == []
    finally:
        h.close()


def test_a_deliberate_disconnect_is_not_reconnected_but_a_lost_connection_is() -> None:
    h = harness()
    try:
        h.broker.disconnect()
        h.broker.pump(0.1)
        assert h.broker.events() == []
        assert not h.broker.ib.isConnected()
        h.broker.connect()
        h.server.run(lambda: h.server.gateway.inject(Fault(FaultKind.DROP)))
        h.settle()
        h.recover()
        assert h.broker.ib.isConnected()
        assert h.broker.reconnects == 1
    finally:
        h.close()


def test_an_execution_of_ours_that_cannot_be_booked_stops_with_an_alert() -> None:
    h = harness()
    try:
        h.place(moo("ob-20251029-WULF-1-entry"))
        gateway = h.server.gateway
        order = next(iter(gateway.desk.orders.values()))
        odd = ExecutionView("odd.1", at("09:30"), "BOT", 0.5, 10.0, 0.5, 10.0)

        def tell() -> None:
            session = gateway.sessions[7]
            session.send(*answers.exec_details(-1, order.view, odd))
            session.send(*answers.commission_report("odd.1", 1.0))

        h.server.run(tell)
        h.settle()
        with pytest.raises(InvariantBroken, match=r"odd\.1.*whole"):
            h.broker.events()
    finally:
        h.close()


def test_each_client_books_only_its_own_executions() -> None:
    h = harness()
    other = IbBroker(IbConnection(port=h.server.port, client_id=8, account="DU0000001"), h.clock)
    try:
        h.place(moo("ob-20251029-WULF-1-entry"))
        h.advance_to(at("09:31"))
        assert [type(e).__name__ for e in h.events()] == ["OrderUpdate", "Fill"]
        other.connect()  # its startup fetches today's executions: client 7's among them
        other.pump()
        assert other.events() == []
    finally:
        other.disconnect()
        h.close()
