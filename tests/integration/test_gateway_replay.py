"""A simulated gateway killed mid-day comes back where it stood, as IB's servers would.

At IB the account and its working orders live on the servers: a Gateway process that dies
loses nothing. The simulated gateway's account lives in its process, so a restarted one
replays its journal (the orders and cancels of its run, at their sim times) through a fresh
matching engine. These tests kill one gateway (its thread and state are gone), start another
on the same journal, and compare the two accounts; then a bot reconnects and trades on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import SIM_ANCHOR_ENV, ManualClock, SimAnchor
from openbell.adapters.ib.broker import IbBroker, IbConnection
from openbell.bars.frame import DayBars, to_ns
from openbell.config import Settings
from openbell.domain.broker import BrokerEvent
from openbell.domain.enums import OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import OrderRef, Price, Quantity, Symbol
from openbell.runtime.gateway import ReplayRequest, build_gateway
from openbell.runtime.loopback import GatewayThread
from openbell.venue import FixedCommission, NoSlippage, VenueConfig
from openbell.venue.tws.account import Holding
from openbell.venue.tws.gateway import GatewayConfig, TwsGateway
from openbell.venue.tws.journal import earlier_life, read_journal

CALENDAR = ExchangeCalendar.nyse()
DAY = date(2016, 4, 29)
SESSION: Session = CALENDAR.session(DAY)
ACCOUNT = "DU0000001"
RUN = "run-1"
ENTRY, TARGET, STOP = (f"ob-20160429-WULF-1-{role}" for role in ("entry", "target", "stop"))
AAPL = "ob-20160429-AAPL-2-entry"


def at(hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=NEW_YORK)


def bars(symbol: str, path: list[float]) -> DayBars:
    minutes = int((SESSION.close - SESSION.open).total_seconds() // 60)
    close = np.array((path + [path[-1]] * minutes)[:minutes])
    starts = np.array([to_ns(SESSION.open) + i * 60_000_000_000 for i in range(minutes)])
    return DayBars(
        symbol, DAY, 60, starts, close, close + 0.01, close - 0.01, close, np.full(minutes, 1e6)
    )


BARS = {
    "WULF": bars("WULF", [10.0] * 20 + [10.3]),  # through the 10.26 target at 09:50
    "AAPL": bars("AAPL", [100.0]),
}


def intent(ref: str, symbol: str, side: Side, kind: OrderType, **price: str) -> OrderIntent:
    role = {"entry": OrderRole.ENTRY, "target": OrderRole.TARGET, "stop": OrderRole.STOP}[
        ref.rsplit("-", 1)[1]
    ]
    return OrderIntent(
        OrderRef(ref),
        Symbol(symbol),
        side,
        Quantity(100 if symbol == "WULF" else 10),
        kind,
        TimeInForce.AT_THE_OPEN if role is OrderRole.ENTRY else TimeInForce.DAY,
        role,
        limit_price=Price(Decimal(price["limit"])) if "limit" in price else None,
        stop_price=Price(Decimal(price["stop"])) if "stop" in price else None,
        oca_group=None if role is OrderRole.ENTRY else "oca-wulf-1",
    )


class Life:
    """One gateway process: a server on the shared journal, and the bot's IB client on it."""

    def __init__(self, journal: Path, clock: ManualClock, *, replay: bool) -> None:
        venue = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())
        config = GatewayConfig(
            account=ACCOUNT,
            venue=venue,
            replay_interval_s=3600.0,
            journal=journal,
            holdings=(Holding.parse("SKYX:182@1.20"),),
        )
        self.clock = clock
        gateway = TwsGateway(config, clock, CALENDAR)
        gateway.load_day(SESSION, BARS)
        self.replayed = gateway.replay(earlier_life(read_journal(journal), RUN)) if replay else 0
        gateway.mark_start(RUN)
        self.server = GatewayThread(gateway)
        self.gateway = gateway
        self.broker: IbBroker | None = None

    def connect(self) -> IbBroker:
        connection = IbConnection(
            port=self.server.port, client_id=1, account=ACCOUNT, commission_wait_s=0.3
        )
        self.broker = IbBroker(connection, self.clock)
        self.broker.connect()
        return self.broker

    def advance_to(self, when: datetime) -> None:
        self.clock.set(when)
        self.server.run(self.gateway.pump)

    def drain(self, settle_s: float = 0.6) -> list[BrokerEvent]:
        assert self.broker is not None
        deadline = time.monotonic() + 10
        while not self.broker.ready:
            assert time.monotonic() < deadline, "the broker did not get ready"
            self.broker.pump(0.02)
        events: list[BrokerEvent] = []
        end = time.monotonic() + settle_s
        while time.monotonic() < end:
            self.broker.pump(0.02)
            events.extend(self.broker.events())
        return events

    def account(self) -> dict[str, Any]:
        """Everything the venue would tell about the account, as plain values."""

        def read() -> dict[str, Any]:
            g = self.gateway
            return {
                "positions": {
                    s: (p.quantity, p.average_cost) for s, p in g.engine.positions().items()
                },
                "values": dict(g.account.values()),
                "orders": sorted(
                    (o.view for o in g.desk.orders.values()), key=lambda v: v.order_id
                ),
                "executions": [
                    (e.execution.exec_id, e.execution.price, e.execution.shares, e.commission)
                    for e in g.desk.executions
                ],
                "next_order_id": g._next_order_id,  # what nextValidId would say
            }

        result: dict[str, Any] = self.server.run(read)
        return result

    def kill(self) -> None:
        """The process dies: the clients' sockets close and its state is gone."""
        if self.broker is not None:
            self.broker.disconnect()
        asyncio.get_event_loop().run_until_complete(asyncio.sleep(0.02))
        self.server.stop()


@pytest.fixture
def loop() -> Iterator[None]:
    new = asyncio.new_event_loop()
    asyncio.set_event_loop(new)
    yield
    asyncio.set_event_loop(None)
    new.close()


def trade_the_morning(life: Life) -> IbBroker:
    broker = life.connect()
    life.drain()
    life.advance_to(at("09:25"))
    broker.place(intent(ENTRY, "WULF", Side.BUY, OrderType.MARKET))
    broker.place(intent(AAPL, "AAPL", Side.BUY, OrderType.MARKET))
    life.drain()
    life.advance_to(at("09:31"))  # both entries fill in the opening auction
    life.drain()
    broker.place(intent(TARGET, "WULF", Side.SELL, OrderType.LIMIT, limit="10.26"))
    broker.place(intent(STOP, "WULF", Side.SELL, OrderType.STOP, stop="9.91"))
    life.drain()
    life.advance_to(at("09:40"))
    return broker


def test_a_restarted_gateway_stands_where_the_killed_one_stood(tmp_path: Path, loop: None) -> None:
    journal, clock = tmp_path / "gateway-journal.jsonl", ManualClock(at("09:00"))
    first = Life(journal, clock, replay=False)
    trade_the_morning(first)
    before = first.account()
    assert before["positions"]["WULF"][0] == 100 and len(before["executions"]) == 2
    first.kill()

    second = Life(journal, clock, replay=True)
    try:
        assert second.replayed == 4
        assert second.account() == before
        # nothing was journaled twice: one record per execution
        records = read_journal(journal)
        executions = [str(r["exec_id"]) for r in records if r["kind"] == "execution"]
        assert sorted(executions) == sorted(e[0] for e in before["executions"])
    finally:
        second.kill()


def test_after_the_restart_the_bot_reconciles_and_its_target_fills_once(
    tmp_path: Path, loop: None
) -> None:
    journal, clock = tmp_path / "gateway-journal.jsonl", ManualClock(at("09:00"))
    first = Life(journal, clock, replay=False)
    trade_the_morning(first)
    first.kill()

    second = Life(journal, clock, replay=True)
    try:
        broker = second.connect()
        broker.reconcile([OrderRef(r) for r in (ENTRY, AAPL, TARGET, STOP)])
        reconciled = second.drain()
        statuses = {str(e.order_ref): e.status for e in reconciled if not isinstance(e, Fill)}
        assert statuses[TARGET] is statuses[STOP] is OrderStatus.SUBMITTED  # still working
        # the entries' executions are there to be booked, with the ids the first life made
        told = sorted((str(e.order_ref), e.execution_id) for e in reconciled if isinstance(e, Fill))
        journaled = sorted(
            (str(r["order_ref"]), str(r["exec_id"]))
            for r in read_journal(journal)
            if r["kind"] == "execution"
        )
        assert told == journaled and [ref for ref, _id in told] == [AAPL, ENTRY]
        second.advance_to(at("09:51"))  # the 09:50 bar trades through the target
        fills = [e for e in second.drain() if isinstance(e, Fill)]
        assert [(str(f.order_ref), f.quantity.value) for f in fills] == [(TARGET, 100)]
        after = second.account()
        assert "WULF" not in after["positions"]
        assert [v.status for v in after["orders"] if v.order_ref == STOP] == ["Cancelled"]
        executions = [r for r in read_journal(journal) if r["kind"] == "execution"]
        assert len(executions) == len({r["exec_id"] for r in executions}) == 3
    finally:
        second.kill()


def test_a_journal_of_another_run_is_not_replayed(tmp_path: Path, loop: None) -> None:
    journal, clock = tmp_path / "gateway-journal.jsonl", ManualClock(at("09:00"))
    first = Life(journal, clock, replay=False)
    trade_the_morning(first)
    first.kill()
    records = read_journal(journal)
    assert earlier_life(records, "another-run") == []
    assert [r["kind"] for r in earlier_life(records, RUN)][:1] == ["order"]
    # a later run in the same journal: its own records only
    mine = earlier_life([*records, {"kind": "start", "run": "run-2", "at": "x"}], "run-2")
    assert mine == []


@pytest.mark.parametrize("killed_at", ["09:26", "09:31"])
def test_the_opening_fill_is_made_once_whether_the_gateway_died_before_or_after_it(
    tmp_path: Path, loop: None, killed_at: str
) -> None:
    journal, clock = tmp_path / "gateway-journal.jsonl", ManualClock(at("09:00"))
    first = Life(journal, clock, replay=False)
    broker = first.connect()
    first.drain()
    first.advance_to(at("09:25"))
    broker.place(intent(ENTRY, "WULF", Side.BUY, OrderType.MARKET))
    first.drain()
    first.advance_to(at(killed_at))  # at 09:31 the auction fill is made and journaled
    first.kill()
    clock.set(at("09:35"))
    second = Life(journal, clock, replay=True)
    try:
        second.advance_to(at("09:36"))
        executions = [r for r in read_journal(journal) if r["kind"] == "execution"]
        assert [(r["order_ref"], r["shares"]) for r in executions] == [(ENTRY, 100.0)]
        assert second.account()["positions"]["WULF"][0] == 100
    finally:
        second.kill()


def test_a_replay_that_cannot_make_a_journaled_execution_says_so(
    tmp_path: Path, loop: None, caplog: pytest.LogCaptureFixture
) -> None:
    journal, clock = tmp_path / "gateway-journal.jsonl", ManualClock(at("09:00"))
    first = Life(journal, clock, replay=False)
    trade_the_morning(first)
    first.kill()
    with journal.open("a", encoding="utf-8") as file:  # an execution no order of it explains
        file.write(
            '{"kind": "execution", "at": "2016-04-29T09:35:00-04:00", "exec_id": "9999.1.01"}\n'
        )
    second = Life(journal, clock, replay=True)
    try:
        with caplog.at_level("ERROR"):
            second.advance_to(at("09:41"))
        assert "the replay did not make executions ['9999.1.01']" in caplog.text
        assert len(second.account()["executions"]) == 2  # the rest is as it was
    finally:
        second.kill()


def test_openbell_gateway_restarted_in_the_same_run_rebuilds_and_skips_past_faults(
    tmp_path: Path, loop: None
) -> None:
    """``build_gateway``, as ``openbell gateway`` runs it under the supervisor: the run is
    the shared sim clock (frozen here at 09:20, its wall start a day away)."""
    calendar = ExchangeCalendar.nyse()
    sim_now = datetime(2016, 4, 12, 9, 20, tzinfo=NEW_YORK)
    wall_start = datetime.now(UTC) + timedelta(days=1)

    def environ(speed: float) -> dict[str, str]:
        return {SIM_ANCHOR_ENV: SimAnchor(sim_now, wall_start, speed).encode()}

    journal = tmp_path / "gateway-journal.jsonl"
    quiet = ReplayRequest(symbols=("FCX",), journal=journal)
    faulty = replace(quiet, faults=("drop@09:10", "drop@10:30"))
    first, _session = build_gateway(quiet, Settings(), calendar, environ=environ(60))
    server = GatewayThread(first)
    connection = IbConnection(port=server.port, client_id=1, account="DU1234567")
    broker = IbBroker(connection, ManualClock(sim_now))
    broker.connect()
    ref = "ob-20160412-FCX-1-entry"
    order = replace(intent(ENTRY, "WULF", Side.BUY, OrderType.MARKET), order_ref=OrderRef(ref))
    broker.place(replace(order, symbol=Symbol("FCX")))
    deadline = time.monotonic() + 10
    while not first.received_orders:
        assert time.monotonic() < deadline
        broker.pump(0.02)
    broker.disconnect()
    server.stop()

    second, _ = build_gateway(faulty, Settings(), calendar, environ=environ(60))
    assert [o.order_ref for _c, o in second.received_orders] == [ref]
    assert [f.at for f in second.faults] == [datetime(2016, 4, 12, 10, 30, tzinfo=NEW_YORK)]
    second_orders = [o.view.order_ref for o in second.desk.orders.values()]
    assert second_orders == [ref]  # working again, waiting for the auction

    another_run, _ = build_gateway(faulty, Settings(), calendar, environ=environ(120))
    assert another_run.received_orders == [] and len(another_run.faults) == 2
    for built in (second, another_run):  # never served: close their journals
        asyncio.get_event_loop().run_until_complete(built.close())


@pytest.mark.parametrize(
    ("record", "found"),
    [
        ({"kind": "order", "at": "2016-04-29T09:25:00-04:00", "client_id": 1}, "KeyError"),
        ({"kind": "cancel", "at": "yesterday", "client_id": 1, "order_id": 3}, "ValueError"),
        ({"kind": "cancel", "at": "2016-04-29T09:26:00", "client_id": 1, "order_id": 3}, "zone"),
        (
            {"kind": "order", "at": "2016-04-29T09:25:00-04:00", "client_id": 1, "fields": ["3"]},
            "KeyError",
        ),
        (
            {
                "kind": "order",
                "at": "2016-04-29T09:25:00-04:00",
                "client_id": 1,
                "fields": ["3", "1"],
                "version": 178,
            },
            "a message 3 of at least",
        ),
    ],
)
def test_a_damaged_journal_is_refused_saying_which_record(
    tmp_path: Path, record: dict[str, object], found: str
) -> None:
    gateway = TwsGateway(GatewayConfig(account=ACCOUNT), ManualClock(at("09:30")), CALENDAR)
    gateway.load_day(SESSION, BARS)
    with pytest.raises(InvalidValue) as caught:
        gateway.replay([record])
    message = str(caught.value)
    assert message.startswith("gateway journal record 1 of this run: expected an order")
    assert found in message


@pytest.mark.parametrize("first_at", ["2016-04-30T09:25:00-04:00", "soon"])
def test_a_journal_whose_first_record_is_on_no_session_is_refused(
    tmp_path: Path, first_at: str
) -> None:
    anchor = SimAnchor(
        datetime(2016, 4, 12, 9, 20, tzinfo=NEW_YORK), datetime.now(UTC) + timedelta(days=1), 60
    )
    env = {SIM_ANCHOR_ENV: anchor.encode()}
    journal = tmp_path / "gateway-journal.jsonl"
    run = hashlib.sha256(anchor.encode().encode()).hexdigest()[:16]
    lines = [{"kind": "start", "run": run, "at": "x"}, {"kind": "cancel", "at": first_at}]
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    request = ReplayRequest(symbols=("FCX",), journal=journal)
    with pytest.raises(InvalidValue, match="the gateway journal's first record of this run"):
        build_gateway(request, Settings(), ExchangeCalendar.nyse(), environ=env)
