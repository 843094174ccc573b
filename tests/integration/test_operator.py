"""Operator liquidations, the kill switch and resume: the serving loop against a real SQLite
ledger and a hand-written venue fake, and the commands through typer's runner and as a real
process against the simulated IB gateway."""

from __future__ import annotations

import asyncio
import os
import pty
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import SIM_ANCHOR_ENV, ManualClock, SimAnchor, SimClock, SystemClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.bars.frame import DayBars, to_ns
from openbell.cli import EXIT_ALERT, EXIT_REFUSED, EXIT_RETRY, app
from openbell.config import Settings
from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import (
    ExitReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionState,
    Side,
)
from openbell.domain.errors import NotFound
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol
from openbell.ports import Clock
from openbell.runtime.bots import session_at
from openbell.runtime.loopback import GatewayThread
from openbell.services.exit_desk import LIQUIDATE_MANAGED, LIQUIDATE_TODAY, ExitDesk
from openbell.services.exits import ExitManager
from openbell.services.liquidation import Serving, await_request, serve_request
from openbell.strategy.management import exit_orders
from openbell.venue.tws.account import Holding
from openbell.venue.tws.gateway import GatewayConfig, TwsGateway

DAY = date(2025, 10, 29)
YESTERDAY = date(2025, 10, 28)
NOON = datetime(2025, 10, 29, 16, 0, tzinfo=UTC)  # 12:00 in New York
SKYX, VMD, WULF = Symbol("SKYX"), Symbol("VMD"), Symbol("WULF")


class FakeVenue:
    """A broker fake: what is sent is heard at the next pump; market sells fill at once
    (unless ``fills`` is off), cancels are confirmed. Pumping waits on ``clock``."""

    def __init__(self, clock: Clock, *, fills: bool = True, ready: bool = True) -> None:
        self.clock, self.fills, self.ready = clock, fills, ready
        self.placed: list[OrderIntent] = []
        self.cancelled: list[OrderRef] = []
        self.reconciled: list[OrderRef] = []
        self.outside: list[BrokerEvent] = []
        """Events about orders openbell never placed (someone else's trades)."""
        self._sent: list[BrokerEvent] = []
        self._heard: list[BrokerEvent] = []
        self._executions = 0

    def place(self, intent: OrderIntent) -> None:
        self.placed.append(intent)
        now = self.clock.now()
        self._sent.append(OrderUpdate(intent.order_ref, OrderStatus.SUBMITTED, now))
        if self.fills and intent.order_type is OrderType.MARKET:
            self._executions += 1
            self._sent.append(
                Fill(
                    f"exec-{self._executions}",
                    intent.order_ref,
                    intent.symbol,
                    intent.side,
                    intent.quantity,
                    Price(Decimal("7.10")),
                    now,
                    Money(Decimal(1)),
                )
            )

    def cancel(self, order_ref: OrderRef) -> None:
        self.cancelled.append(order_ref)
        self._sent.append(OrderUpdate(order_ref, OrderStatus.CANCELLED, self.clock.now()))

    def reconcile(self, order_refs: Sequence[OrderRef]) -> None:
        self.reconciled.extend(order_refs)
        self._sent.extend(
            OrderUpdate(r, OrderStatus.SUBMITTED, self.clock.now()) for r in order_refs
        )

    def pump(self, seconds: float = 0.0) -> None:
        self.clock.sleep_until(self.clock.now() + timedelta(seconds=seconds))
        self._heard += self.outside + self._sent
        self.outside, self._sent = [], []

    def events(self) -> Sequence[BrokerEvent]:
        drained, self._heard = self._heard, []
        return drained

    def net_liquidation(self) -> Money:
        return Money(Decimal(100_000))

    def symbols_placed(self) -> set[Symbol]:
        return {intent.symbol for intent in self.placed}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOON)


def open_ledger(path: Path, clock: Clock, process: str, protected: str = "") -> SqliteLedger:
    symbols = frozenset(Symbol(s) for s in protected.split(",") if s)
    return SqliteLedger.open(path, clock, process=process, protected_symbols=symbols)


@pytest.fixture
def ledger(tmp_path: Path, clock: ManualClock) -> Iterator[SqliteLedger]:
    opened = open_ledger(tmp_path / "ledger.sqlite", clock, "test")
    yield opened
    opened.close()


def adopt(ledger: SqliteLedger, symbol: Symbol, qty: int, day: date = DAY) -> Position:
    return ledger.adopt(symbol, Quantity(qty), Price(Decimal("6.84")), "test holding", day)


def protect(ledger: SqliteLedger, position: Position, clock: Clock) -> list[OrderRef]:
    """Give ``position`` a working target and stop, placed by an earlier exit-manager life."""
    pid = position.position_id or 0
    priced = ledger.set_exit_prices(pid, Price(Decimal("7.50")), Price(Decimal("6.50")))
    pair = exit_orders(priced)
    earlier = ExitManager(ledger, FakeVenue(clock))
    for intent in (pair.target, pair.stop):
        earlier.send(pid, intent)
        ledger.update_order(intent.order_ref, OrderStatus.SUBMITTED)
    return [pair.target.order_ref, pair.stop.order_ref]


def serve(
    ledger: SqliteLedger,
    venue: FakeVenue,
    kind: str,
    *,
    wait: timedelta = timedelta(seconds=30),
    tick_s: float = 0.5,
) -> tuple[int, str, str]:
    request = ledger.request_work(kind, "test")
    clock = venue.clock
    serving = Serving(DAY, clock, clock.now() + wait, tick_s)
    finished = serve_request(ledger, venue, ExitManager(ledger, venue), request, serving)
    assert finished == ledger.operator_request(request.request_id)
    return finished.request_id, finished.status, finished.outcome


# --------------------------------------------------------------------------- the serving loop


def test_working_exits_are_taken_over_cancelled_then_the_shares_sold(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    position = adopt(ledger, VMD, 35)
    pair = protect(ledger, position, clock)
    venue = FakeVenue(clock)
    _, status, outcome = serve(ledger, venue, LIQUIDATE_MANAGED)
    assert (status, outcome) == ("DONE", "flat")
    assert set(venue.reconciled) == set(venue.cancelled) == set(pair)
    [flatten] = venue.placed
    assert (flatten.symbol, flatten.quantity, flatten.role) == (
        VMD,
        Quantity(35),
        OrderRole.FLATTEN,
    )
    closed = ledger.position(position.position_id or 0)
    assert (closed.state, closed.held_quantity, closed.exit_reason) == (
        PositionState.CLOSED,
        0,
        ExitReason.FLATTEN,
    )
    statuses = {o.role: o.status for o in ledger.orders(position.position_id)}
    assert statuses == {
        OrderRole.TARGET: OrderStatus.CANCELLED,
        OrderRole.STOP: OrderStatus.CANCELLED,
        OrderRole.FLATTEN: OrderStatus.FILLED,
    }
    assert ledger.pending_requests() == []


def test_today_covers_only_todays_positions(ledger: SqliteLedger, clock: ManualClock) -> None:
    old, new = adopt(ledger, WULF, 10, YESTERDAY), adopt(ledger, VMD, 35, DAY)
    venue = FakeVenue(clock)
    _, status, _ = serve(ledger, venue, LIQUIDATE_TODAY)
    assert status == "DONE"
    assert venue.symbols_placed() == {VMD}
    assert ledger.position(new.position_id or 0).state is PositionState.CLOSED
    kept = ledger.position(old.position_id or 0)
    assert (kept.state, kept.held_quantity) == (PositionState.OPEN, 10)
    assert ledger.orders(old.position_id) == []


def test_managed_covers_every_day(ledger: SqliteLedger, clock: ManualClock) -> None:
    adopt(ledger, WULF, 10, YESTERDAY)
    adopt(ledger, VMD, 35, DAY)
    venue = FakeVenue(clock)
    _, status, _ = serve(ledger, venue, LIQUIDATE_MANAGED)
    assert status == "DONE"
    assert venue.symbols_placed() == {VMD, WULF}
    assert ledger.active_positions() == []


def test_a_timeout_fails_the_request_and_says_what_is_still_held(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    position = adopt(ledger, VMD, 35)
    venue = FakeVenue(clock, fills=False)
    rid, status, outcome = serve(ledger, venue, LIQUIDATE_MANAGED, wait=timedelta(seconds=5))
    assert status == "FAILED"
    assert "timed out; still held: VMD 35 (EXITING)" in outcome
    assert "1 exit orders still working" in outcome
    assert clock.now() == NOON + timedelta(seconds=5)
    assert len(venue.placed) == 1  # one flatten order, never a second while it works
    assert ledger.position(position.position_id or 0).state is PositionState.EXITING
    assert [e.kind for e in ledger.events(limit=1000)][-1] == "REQUEST_FAILED"
    assert ledger.operator_request(rid).finished_by == "test"


def test_a_broker_never_ready_gets_no_order(ledger: SqliteLedger, clock: ManualClock) -> None:
    adopt(ledger, VMD, 35)
    venue = FakeVenue(clock, ready=False)
    _, status, outcome = serve(ledger, venue, LIQUIDATE_MANAGED, wait=timedelta(seconds=3))
    assert status == "FAILED" and "VMD 35 (OPEN)" in outcome
    assert venue.placed == [] and venue.cancelled == []


def test_a_protected_symbol_in_the_ledger_never_gets_an_order(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "protected.sqlite"
    before = open_ledger(path, clock, "test")
    skyx = adopt(before, SKYX, 182)  # adopted before SKYX was protected
    vmd = adopt(before, VMD, 35)
    before.close()
    ledger = open_ledger(path, clock, "test", protected="SKYX")
    venue = FakeVenue(clock)
    _, status, outcome = serve(ledger, venue, LIQUIDATE_MANAGED)
    assert status == "FAILED"
    assert "flat; left alone: refusing to exit SKYX" in outcome
    assert venue.symbols_placed() == {VMD}
    assert ledger.position(vmd.position_id or 0).state is PositionState.CLOSED
    kept = ledger.position(skyx.position_id or 0)
    assert (kept.state, kept.held_quantity) == (PositionState.OPEN, 182)
    assert ledger.orders(skyx.position_id) == []
    ledger.close()


def test_an_outside_holding_and_foreign_reports_are_left_alone(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    adopt(ledger, VMD, 35)
    venue = FakeVenue(clock)
    foreign = OrderRef("manual-trade-1")
    venue.outside = [
        OrderUpdate(foreign, OrderStatus.SUBMITTED, NOON),
        Fill("outside-1", foreign, WULF, Side.SELL, Quantity(5), Price(Decimal(3)), NOON),
    ]
    _, status, _ = serve(ledger, venue, LIQUIDATE_MANAGED)
    assert status == "DONE"
    assert venue.symbols_placed() == {VMD}
    assert foreign not in venue.cancelled
    foreign_events = [e for e in ledger.events(limit=1000) if e.kind == "FOREIGN"]
    assert len(foreign_events) == 2


def test_a_request_served_elsewhere_is_left_as_it_stands(
    tmp_path: Path, ledger: SqliteLedger, clock: ManualClock
) -> None:
    adopt(ledger, VMD, 35)
    request = ledger.request_work(LIQUIDATE_MANAGED, "test")
    other = open_ledger(tmp_path / "ledger.sqlite", clock, "exit-manager")
    other.finish_request(request.request_id, True, "flat")
    other.close()
    venue = FakeVenue(clock)
    serving = Serving(DAY, clock, clock.now() + timedelta(seconds=30))
    finished = serve_request(ledger, venue, ExitManager(ledger, venue), request, serving)
    assert (finished.status, finished.finished_by) == ("DONE", "exit-manager")
    assert venue.placed == []


def test_await_request_returns_when_finished_or_at_the_deadline(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    request = ledger.request_work(LIQUIDATE_TODAY, "test")
    deadline = clock.now() + timedelta(seconds=10)
    pending = await_request(ledger, request.request_id, clock, deadline)
    assert pending.status == "PENDING" and clock.now() == deadline
    ledger.finish_request(request.request_id, True, "flat")
    done = await_request(ledger, request.request_id, clock, deadline + timedelta(seconds=10))
    assert done.status == "DONE" and clock.now() == deadline


# --------------------------------------------------------------------------- the commands

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {
        "OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
        "OPENBELL__PROTECTION__PROTECTED_SYMBOLS": '["SKYX"]',
        "COLUMNS": "200",
        SIM_ANCHOR_ENV: None,  # the wall clock, as a person's terminal has
    }


def invoke(args: list[str], env: dict[str, str | None], cwd: Path) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)  # settings look for ./openbell.toml and ./.env; keep them out of the repo
    try:
        result = runner.invoke(app, args, env=env)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def wall_ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    """The ledger the commands use, opened by the test on the wall clock."""
    opened = open_ledger(tmp_path / "ledger.sqlite", SystemClock(), "test")
    yield opened
    opened.close()


def no_request_written(ledger: SqliteLedger) -> bool:
    try:
        ledger.operator_request(1)
    except NotFound:
        return True
    return False


class ExitManagerThread:
    """A running exit-manager stand-in: its own ledger connection in a thread, a fresh
    heartbeat, and (if ``serving``) the real :class:`ExitDesk` serving requests against a
    venue fake that fills at once."""

    def __init__(self, path: Path, *, status: str = "running", serving: bool = True) -> None:
        self._path, self._status, self._serving = path, status, serving
        self._beaten, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ExitManagerThread:
        self._thread.start()
        assert self._beaten.wait(10), "the exit-manager thread wrote no heartbeat"
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        clock = SystemClock()
        ledger = open_ledger(self._path, clock, "exit-manager", protected="SKYX")
        try:
            ledger.beat(self._status, "test stand-in")
            self._beaten.set()
            venue = FakeVenue(clock)
            desk = ExitDesk(ledger, ExitManager(ledger, venue), Settings().day_plan())
            session = ExchangeCalendar.nyse().session(DAY)
            while self._serving and not self._stop.is_set():
                venue.pump(0.02)
                desk.apply(venue.events(), DAY)
                desk.step(NOON, session)
        finally:
            ledger.close()


def test_liquidate_needs_exactly_one_scope(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    adopt(wall_ledger, VMD, 35)
    code, _, err = invoke(["liquidate", "--yes"], env, tmp_path)
    assert code == EXIT_REFUSED and "--managed" in err and "found neither" in err
    code, _, err = invoke(["liquidate", "--managed", "--today", "--yes"], env, tmp_path)
    assert code == EXIT_REFUSED and "found both" in err
    assert no_request_written(wall_ledger)


def test_nothing_to_flatten_writes_no_request(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    code, out, _ = invoke(["liquidate", "--managed", "--yes"], env, tmp_path)
    assert code == 0 and "nothing to flatten" in out
    assert no_request_written(wall_ledger)


def test_unconfirmed_commands_change_nothing(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    adopt(wall_ledger, VMD, 35)
    code, out, err = invoke(["liquidate", "--managed"], env, tmp_path)
    assert code == EXIT_REFUSED and "pass --yes" in err
    assert "VMD" in out and "35" in out  # what would be sold was shown first
    code, _, err = invoke(["kill"], env, tmp_path)
    assert code == EXIT_REFUSED and "pass --yes" in err
    assert no_request_written(wall_ledger)
    assert wall_ledger.controls() == {}
    assert wall_ledger.position(1).state is PositionState.OPEN


def test_liquidate_waits_for_the_running_exit_manager(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    position = adopt(wall_ledger, VMD, 35)
    with ExitManagerThread(tmp_path / "ledger.sqlite"):
        args = ["liquidate", "--managed", "--yes", "--wait-s", "20", "--reason", "drill"]
        code, out, err = invoke(args, env, tmp_path)
    assert code == 0, err
    assert "the exit-manager is running" in out
    assert "request 1 DONE (by exit-manager): flat" in out
    request = wall_ledger.operator_request(1)
    assert (request.kind, request.reason, request.status) == (LIQUIDATE_MANAGED, "drill", "DONE")
    assert wall_ledger.position(position.position_id or 0).state is PositionState.CLOSED


def test_a_silent_exit_manager_leaves_the_request_pending(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    today = session_at(ExchangeCalendar.nyse(), SystemClock().now()).trading_day
    adopt(wall_ledger, VMD, 35, today)
    with ExitManagerThread(tmp_path / "ledger.sqlite", serving=False):
        code, _, err = invoke(["liquidate", "--today", "--yes", "--wait-s", "1"], env, tmp_path)
    assert code == EXIT_RETRY
    assert "request 1 is still PENDING after 1 s" in err
    assert [r.kind for r in wall_ledger.pending_requests()] == [LIQUIDATE_TODAY]


def test_a_halted_exit_manager_is_reported_not_waited_for(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    adopt(wall_ledger, VMD, 35)
    with ExitManagerThread(tmp_path / "ledger.sqlite", status="halted", serving=False):
        code, _, err = invoke(["liquidate", "--managed", "--yes"], env, tmp_path)
    assert code == EXIT_ALERT and "halted" in err
    assert no_request_written(wall_ledger)


def test_kill_sets_the_switch_then_liquidates(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    position = adopt(wall_ledger, VMD, 35)
    with ExitManagerThread(tmp_path / "ledger.sqlite"):
        code, out, err = invoke(["kill", "--yes", "--reason", "fat finger"], env, tmp_path)
    assert code == 0, err
    assert "kill switch on (fat finger)" in out and "DONE" in out
    switch = wall_ledger.controls()["kill_switch"]
    assert (switch.enabled, switch.reason, switch.changed_by) == (True, "fat finger", "cli")
    request = wall_ledger.operator_request(1)
    assert (request.kind, request.reason, request.status) == (
        LIQUIDATE_MANAGED,
        "fat finger",
        "DONE",
    )
    assert wall_ledger.position(position.position_id or 0).state is PositionState.CLOSED


def test_kill_with_nothing_held_only_sets_the_switch(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    code, out, _ = invoke(["kill", "-y"], env, tmp_path)
    assert code == 0 and "nothing to flatten" in out
    switch = wall_ledger.controls()["kill_switch"]
    assert switch.enabled and switch.reason == "openbell kill by the operator"
    assert no_request_written(wall_ledger)


def test_resume_clears_what_was_on(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    code, out, _ = invoke(["resume", "--yes"], env, tmp_path)
    assert code == 0 and "nothing to resume" in out
    wall_ledger.set_control("kill_switch", True, "drill")
    wall_ledger.set_control("entries_paused", True, "lunch")
    wall_ledger.set_control("entries_paused", False, "back")
    wall_ledger.set_control("entries_paused", True, "lunch again")
    code, _, err = invoke(["resume"], env, tmp_path)
    assert code == EXIT_REFUSED and "pass --yes" in err
    assert wall_ledger.controls()["kill_switch"].enabled
    code, out, err = invoke(["resume", "--yes"], env, tmp_path)
    assert code == 0, err
    assert "kill_switch is on" in out and "entries_paused is on" in out and "(drill;" in out
    controls = wall_ledger.controls()
    assert not controls["kill_switch"].enabled and not controls["entries_paused"].enabled
    assert controls["kill_switch"].reason == "openbell resume by the operator"


@pytest.fixture
def client_loop() -> Iterator[None]:
    """ib_async's synchronous calls run this thread's loop: a fresh one, closed afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@pytest.mark.usefixtures("client_loop")
def test_without_an_exit_manager_an_unreachable_gateway_fails_the_request(
    env: dict[str, str | None], tmp_path: Path, wall_ledger: SqliteLedger
) -> None:
    adopt(wall_ledger, VMD, 35)
    unreachable = {**env, "OPENBELL__BROKER__PORT": str(free_port())}
    unreachable["OPENBELL__BROKER__CONNECT_TIMEOUT_S"] = "2"
    code, out, err = invoke(["kill", "--yes"], unreachable, tmp_path)
    assert code == EXIT_RETRY and "could not connect to IB" in err
    assert "the exit-manager is not running: flattening here" in out
    assert wall_ledger.controls()["kill_switch"].enabled
    request = wall_ledger.operator_request(1)
    assert request.status == "FAILED" and request.outcome.startswith("not served: could not")
    assert wall_ledger.position(1).state is PositionState.OPEN


def flat_bars(symbol: str, price: float) -> DayBars:
    open_ns = to_ns(datetime.combine(DAY, time(9, 30), NEW_YORK))
    starts = np.array([open_ns + i * 60_000_000_000 for i in range(390)])
    px = np.full(390, price)
    return DayBars(symbol, DAY, 60, starts, px, px + 0.01, px - 0.01, px, np.full(390, 1e6))


def test_without_an_exit_manager_the_command_sells_as_its_ib_client(tmp_path: Path) -> None:
    """A real ``openbell liquidate`` process against the simulated gateway, on a shared
    accelerated clock: it sells only today's ledger position, as the exit-manager's client."""
    anchor = SimAnchor.starting_now(NOON, 60.0)
    clock, calendar = SimClock(anchor), ExchangeCalendar.nyse()
    holdings = (Holding("SKYX", 182, 1.20), Holding("VMD", 35, 6.84), Holding("WULF", 10, 3.0))
    gateway = TwsGateway(GatewayConfig(account="DU1234567", holdings=holdings), clock, calendar)
    gateway.load_day(
        calendar.session(DAY), {s: flat_bars(s, p) for s, p in (("VMD", 7.1), ("WULF", 3.2))}
    )
    server = GatewayThread(gateway)
    ledger = open_ledger(tmp_path / "ledger.sqlite", clock, "test")
    try:
        vmd, wulf = adopt(ledger, VMD, 35, DAY), adopt(ledger, WULF, 10, YESTERDAY)
        env = {
            **os.environ,
            "OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
            "OPENBELL__PROTECTION__PROTECTED_SYMBOLS": '["SKYX"]',
            "OPENBELL__BROKER__HOST": "127.0.0.1",
            "OPENBELL__BROKER__PORT": str(server.port),
            "OPENBELL__BROKER__ACCOUNT": "DU1234567",
            SIM_ANCHOR_ENV: anchor.encode(),
            "COLUMNS": "200",
        }
        done = subprocess.run(
            [sys.executable, "-m", "openbell", "liquidate", "--today", "--yes", "--wait-s", "20"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "flattening here as its IB client (client id 10" in done.stdout
        assert "request 1 DONE (by cli): flat" in done.stdout
        sold = ledger.position(vmd.position_id or 0)
        assert (sold.state, sold.exit_reason) == (PositionState.CLOSED, ExitReason.FLATTEN)
        assert ledger.position(wulf.position_id or 0).state is PositionState.OPEN
        orders = [
            (cid, o.contract.symbol, o.action, o.quantity) for cid, o in gateway.received_orders
        ]
        assert orders == [(10, "VMD", "SELL", 35)]
    finally:
        ledger.close()
        server.stop()


def test_answering_no_in_a_terminal_changes_nothing(tmp_path: Path) -> None:
    """A real ``openbell kill`` on a terminal: the question is asked, and "n" ends it."""
    ledger = open_ledger(tmp_path / "ledger.sqlite", SystemClock(), "test")
    try:
        adopt(ledger, VMD, 35)
        env = {
            **os.environ,
            "OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
            "COLUMNS": "200",
        }
        env.pop(SIM_ANCHOR_ENV, None)
        controller, terminal = pty.openpty()
        with os.fdopen(controller, "wb", buffering=0) as keyboard:
            keyboard.write(b"n\n")  # typed ahead: the terminal keeps it until it is read
            done = subprocess.run(
                [sys.executable, "-m", "openbell", "kill"],
                cwd=tmp_path,
                env=env,
                stdin=terminal,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        os.close(terminal)
        assert done.returncode == EXIT_REFUSED, done.stderr
        assert "Turn on the kill switch and sell every share of 1 managed positions?" in done.stdout
        assert "not confirmed; nothing was changed" in done.stderr
        assert ledger.controls() == {}
        assert no_request_written(ledger)
    finally:
        ledger.close()
