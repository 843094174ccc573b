"""The supervisor in-process: fake children, a real ledger, the real NYSE calendar, fake time."""

from __future__ import annotations

import os
import sqlite3
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from entries import moo_filled

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config import Settings
from openbell.domain.enums import (
    ExitReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionRole,
    Side,
    TimeInForce,
)
from openbell.domain.errors import Conflict
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.records import LedgerEvent
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol
from openbell.runtime.bots import StopFlag
from openbell.runtime.supervisor import DAY_TRADER, EXIT_MANAGER, GATEWAY, Phase, Supervisor, Timing
from openbell.runtime.version import CodeVersion, installed_code

TRADING_DAY, THANKSGIVING, HALF_DAY = date(2016, 11, 23), date(2016, 11, 24), date(2016, 11, 25)
PLAN = Settings().day_plan()


def at(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), NEW_YORK)


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar.nyse(date(2016, 1, 1), date(2017, 12, 31))


class FakeChild:
    """The surface of :class:`Child` the supervisor uses; records when it was started/stopped."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock, self._running, self.kills = clock, False, 0
        self._pid: int | None = None
        self._code: int | None = None
        self.starts: list[datetime] = []
        self.stops: list[datetime] = []

    @property
    def running(self) -> bool:
        return self._running

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def exit_code(self) -> int | None:
        return None if self._running else self._code

    def start(self) -> None:
        if self._running:
            raise Conflict(f"already running as pid {self._pid}")
        # this test process's pid: the heartbeats the tests write carry it (the supervisor
        # ignores a heartbeat row left by an earlier life of the child)
        self._pid, self._running, self._code = os.getpid(), True, None
        self.starts.append(self._clock.now())

    def stop(self, grace_s: float = 10.0) -> int | None:
        self.stops.append(self._clock.now())
        if self._pid is None:
            return None
        if self._running:
            self._running, self._code = False, -15
        return self._code

    def kill(self) -> None:
        self.kills += 1
        self._running, self._code = False, -9

    def die(self, code: int) -> None:
        self._running, self._code = False, code


class Wall:
    """The injected monotonic wall clock: moves only when a test says so."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


class SteppingStop(StopFlag):
    """A stop flag whose wait moves both clocks instead of sleeping, so run() covers a day fast."""

    def __init__(self, clock: ManualClock, wall: Wall, step: timedelta) -> None:
        super().__init__()
        self._clock, self._wall, self._step = clock, wall, step

    def wait(self, seconds: float) -> bool:
        self._clock.advance(self._step)
        self._wall.now += seconds
        return self.is_set()


class Rig:
    def __init__(self, tmp: Path, calendar: ExchangeCalendar, start: datetime, **timing: float):
        self.path = tmp / "ledger.sqlite"
        self.clock, self.wall = ManualClock(start), Wall()
        self.said: list[str] = []
        self.ledger = SqliteLedger.open(self.path, self.clock, process="supervisor")
        self.children = {DAY_TRADER: FakeChild(self.clock), EXIT_MANAGER: FakeChild(self.clock)}
        self.timing = Timing(check_awake_s=0, check_asleep_s=0, **timing)
        self.calendar = calendar

    def supervisor(self, stop: StopFlag | None = None, until: datetime | None = None) -> Supervisor:
        deps = (self.clock, self.calendar, self.ledger, PLAN, self.children, self.timing)
        stop = stop or StopFlag()
        return Supervisor(*deps, stop, until=until, say=self.said.append, wall=self.wall)

    def tick(self, sup: Supervisor, when: datetime | None = None, wall_s: float = 0.0) -> Phase:
        """One pass of run()'s loop body, at ``when`` and ``wall_s`` wall seconds later."""
        if when is not None:
            self.clock.set(when)
        self.wall.now += wall_s
        phase = sup._phase()
        sup._follow(phase)
        sup._check_flat(phase)
        if self.wall() >= sup._state.next_check:
            sup._check(phase)
        return phase

    def bot_ledger(self, process: str, code_version: str) -> SqliteLedger:
        return SqliteLedger.open(self.path, self.clock, process=process, code_version=code_version)

    def events(self, kind: str) -> list[LedgerEvent]:
        return [e for e in self.ledger.events(limit=1000) if e.kind == kind]

    def starts(self, name: str) -> int:
        return len(self.children[name].starts)


def test_a_holiday_starts_no_bot(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(THANKSGIVING, 10, 0))
    sup = rig.supervisor()
    phase = rig.tick(sup)
    phase = rig.tick(sup, at(THANKSGIVING, 12, 0), wall_s=600)
    assert not phase.awake
    assert f"the exchange is closed on {THANKSGIVING}" in phase.why
    assert rig.starts(DAY_TRADER) == rig.starts(EXIT_MANAGER) == 0
    assert [e.message for e in rig.events("SCHEDULE")] == [phase.why]
    (beat,) = rig.ledger.heartbeats()
    assert (beat.process, beat.status) == ("supervisor", "asleep")


def test_bots_run_from_wake_to_sleep(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 7, 59))
    sup = rig.supervisor()
    assert not rig.tick(sup).awake
    assert rig.starts(DAY_TRADER) == rig.starts(EXIT_MANAGER) == 0
    assert rig.tick(sup, at(TRADING_DAY, 8, 0)).awake
    for child in rig.children.values():
        assert child.running and child.starts == [at(TRADING_DAY, 8, 0)]
    rig.tick(sup, at(TRADING_DAY, 16, 4, 59))
    assert all(c.running and not c.stops for c in rig.children.values())
    assert not rig.tick(sup, at(TRADING_DAY, 16, 5)).awake
    for child in rig.children.values():
        assert not child.running and child.stops == [at(TRADING_DAY, 16, 5)]
    assert rig.events("SCHEDULE")[-1].message == f"asleep: {TRADING_DAY} is over"


def test_run_follows_the_day(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 7, 50))
    stop = SteppingStop(rig.clock, rig.wall, timedelta(minutes=5))
    assert rig.supervisor(stop, until=at(TRADING_DAY, 16, 15)).run() == 0
    for child in rig.children.values():
        assert child.starts == [at(TRADING_DAY, 8, 0)]
        assert child.stops == [at(TRADING_DAY, 16, 5)]
    assert rig.ledger.heartbeats()[0].status == "stopped"


def test_a_half_day_ends_at_its_early_close(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(HALF_DAY, 12, 0))
    sup = rig.supervisor()
    rig.tick(sup)
    rig.tick(sup, at(HALF_DAY, 13, 4))
    assert all(c.running for c in rig.children.values())
    assert not rig.tick(sup, at(HALF_DAY, 13, 5)).awake
    rig.tick(sup, at(HALF_DAY, 16, 5))
    for child in rig.children.values():
        assert not child.running
        assert child.starts == [at(HALF_DAY, 12, 0)] and child.stops == [at(HALF_DAY, 13, 5)]


def test_a_dead_bot_restarts_after_backoff(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 10, 0), restart_initial_s=5.0)
    sup = rig.supervisor()
    rig.tick(sup)
    rig.children[DAY_TRADER].die(1)
    rig.tick(sup)
    (restart,) = rig.events("RESTART")
    assert restart.data["process"] == DAY_TRADER and "exited with code 1" in restart.message
    rig.tick(sup, wall_s=4.9)
    assert rig.starts(DAY_TRADER) == 1 and not rig.children[DAY_TRADER].running
    rig.tick(sup, wall_s=0.1)
    assert rig.starts(DAY_TRADER) == 2 and rig.children[DAY_TRADER].running
    assert rig.starts(EXIT_MANAGER) == 1
    assert len(rig.events("RESTART")) == 1


def test_a_silent_bot_is_restarted(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 10, 0), silent_after_s=30.0)
    code = str(installed_code())
    trader, manager = rig.bot_ledger(DAY_TRADER, code), rig.bot_ledger(EXIT_MANAGER, code)
    sup = rig.supervisor()
    rig.tick(sup)
    for step in range(1, 8):  # both beat every 10 s until the day-trader goes quiet at wall 40
        assert rig.starts(DAY_TRADER) == 1 and not rig.events("RESTART")
        rig.clock.advance(timedelta(seconds=10))
        manager.beat("running", f"step {step}")
        if step <= 4:
            trader.beat("running", f"step {step}")
        rig.tick(sup, wall_s=10)  # the last one: 30 s without a new heartbeat
    (restart,) = rig.events("RESTART")
    assert restart.data["process"] == DAY_TRADER and "no heartbeat" in restart.message
    assert rig.starts(DAY_TRADER) == 2 and len(rig.children[DAY_TRADER].stops) == 1
    assert rig.starts(EXIT_MANAGER) == 1 and not rig.children[EXIT_MANAGER].stops


@pytest.mark.parametrize(("hour", "minute", "restarted"), [(11, 0, True), (9, 26, False)])
def test_old_code_is_reported_and_restarted_only_at_a_safe_point(
    tmp_path: Path, calendar: ExchangeCalendar, hour: int, minute: int, restarted: bool
) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, hour, minute) - timedelta(minutes=1))
    sup = rig.supervisor()
    rig.tick(sup)
    rig.bot_ledger(DAY_TRADER, "0.0.1+srcold").beat("running", "old code")
    rig.tick(sup, at(TRADING_DAY, hour, minute))
    (changed,) = rig.events("CODE_CHANGED")
    assert changed.data["process"] == DAY_TRADER
    assert str(installed_code()) in changed.message and "0.0.1+srcold" in changed.message
    restarts = rig.events("RESTART")
    assert [e.data["process"] for e in restarts] == ([DAY_TRADER] if restarted else [])
    assert rig.starts(DAY_TRADER) == (2 if restarted else 1)
    assert len(rig.children[DAY_TRADER].stops) == (1 if restarted else 0)
    assert rig.children[DAY_TRADER].running
    assert rig.starts(EXIT_MANAGER) == 1 and not rig.children[EXIT_MANAGER].stops


def test_the_kill_switch_stops_idle_bots(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 10, 0))
    sup = rig.supervisor()
    rig.tick(sup)
    assert all(c.running for c in rig.children.values())
    rig.ledger.set_control("kill_switch", True, "test")
    rig.tick(sup, at(TRADING_DAY, 10, 1))
    rig.tick(sup, at(TRADING_DAY, 10, 2), wall_s=60)
    for child in rig.children.values():
        assert not child.running
        assert child.starts == [at(TRADING_DAY, 10, 0)] and child.stops == [at(TRADING_DAY, 10, 1)]
    assert not rig.events("RESTART")


def test_run_past_until_stops_every_child(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 10, 0))
    rig.children[GATEWAY] = FakeChild(rig.clock)
    for child in rig.children.values():
        child.start()
    sup = rig.supervisor(until=at(TRADING_DAY, 9, 0))
    assert sup.run() == 0
    for child in rig.children.values():
        assert not child.running and len(child.starts) == len(child.stops) == 1
    assert "supervisor: the last session of this run is over" in rig.said
    (beat,) = rig.ledger.heartbeats()
    assert beat.status == "stopped" and "the run is over" in beat.detail


def test_sources_unreadable_mid_install_are_compared_at_the_next_check(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 11, 0))
    old, new = CodeVersion("0.0.1", None, "old"), CodeVersion("0.0.2", None, "new")
    # an install replacing the files: one hash of the sources fails on a vanished file
    answers: list[CodeVersion | OSError] = [old, FileNotFoundError("openbell/ports.py"), new]

    def installed() -> CodeVersion:
        answer = answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer

    deps = (rig.clock, rig.calendar, rig.ledger, PLAN, rig.children, rig.timing)
    sup = Supervisor(*deps, StopFlag(), say=rig.said.append, wall=rig.wall, installed=installed)
    rig.tick(sup)
    rig.bot_ledger(DAY_TRADER, str(old)).beat("running", "old code")
    rig.tick(sup, at(TRADING_DAY, 11, 1))
    assert not rig.events("CODE_CHANGED") and rig.starts(DAY_TRADER) == 1
    rig.tick(sup, at(TRADING_DAY, 11, 2))
    (changed,) = rig.events("CODE_CHANGED")
    assert changed.data["process"] == DAY_TRADER and changed.message.endswith(str(new))
    assert rig.starts(DAY_TRADER) == 2 and rig.children[DAY_TRADER].running
    assert answers == []


class LockingStop(SteppingStop):
    """Steps the day; another connection holds the ledger's write lock for ``locked`` steps."""

    def __init__(self, clock: ManualClock, wall: Wall, path: Path, locked: range) -> None:
        super().__init__(clock, wall, timedelta(minutes=5))
        self._other = sqlite3.connect(path, isolation_level=None)
        self._locked, self._step_no = locked, 0
        self.held_for = 0

    def wait(self, seconds: float) -> bool:
        self._step_no += 1
        if self._step_no == self._locked.start:
            self._other.execute("BEGIN IMMEDIATE")
        if self._step_no in self._locked:
            self.held_for += 1
        if self._step_no == self._locked.stop:
            self._other.execute("COMMIT")
        return super().wait(seconds)


def test_a_ledger_locked_for_a_while_does_not_end_the_run(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    """The chaos harness found it: a ledger held locked past the busy timeout used to end the
    whole run mid-day (exit 75), stopping both bots. Now the supervisor waits it out."""
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 7, 50))
    rig.ledger.close()
    rig.ledger = SqliteLedger.open(rig.path, rig.clock, process="supervisor", busy_timeout_ms=20)
    stop = LockingStop(rig.clock, rig.wall, rig.path, range(30, 60))  # about 10:20 to 12:50
    assert rig.supervisor(stop, until=at(TRADING_DAY, 16, 15)).run() == 0
    assert stop.held_for == 30
    assert any("ledger stayed locked" in line and "trying again" in line for line in rig.said)
    for child in rig.children.values():  # started once at the wake, stopped once at the sleep
        assert child.starts == [at(TRADING_DAY, 8, 0)]
        assert child.stops == [at(TRADING_DAY, 16, 5)]
    assert rig.ledger.heartbeats()[0].status == "stopped"


def held(ledger: SqliteLedger, symbol: str, qty: int) -> int:
    """A position the day-trader planned and whose MOO filled: ``qty`` shares held."""
    planned = Position(
        TRADING_DAY, Symbol(symbol), PositionRole.MASTER, Quantity(qty), target_pct=Decimal("2.6")
    )
    return moo_filled(ledger, planned, "100", at(TRADING_DAY, 9, 30)).position_id or 0


def test_shares_held_after_the_flatten_raise_an_alert_once_per_stage(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    """Invariant 4 of the chaos harness: a flatten that cannot happen (the gateway down, the
    exit-manager gone) is an alert a person hears about, not silence."""
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 15, 0))
    held(rig.ledger, "MU", 2854)
    held(rig.ledger, "AMD", 40)
    rig.children[GATEWAY] = FakeChild(rig.clock)
    sup = rig.supervisor()
    rig.tick(sup)  # flatten at 15:45: nothing to say before it is 3 minutes late
    rig.tick(sup, at(TRADING_DAY, 15, 47))
    assert not rig.events("NOT_FLAT")
    rig.children[EXIT_MANAGER].die(1)
    rig.children[GATEWAY].die(-9)  # restarting after its backoff: wall time stands still
    rig.tick(sup, at(TRADING_DAY, 15, 48))
    rig.tick(sup, at(TRADING_DAY, 15, 49))
    rig.tick(sup, at(TRADING_DAY, 15, 55))
    (late,) = rig.events("NOT_FLAT")
    assert late.data["stage"] == "flatten" and late.data["trading_day"] == "2016-11-23"
    assert [(p["symbol"], p["held"]) for p in late.data["positions"]] == [("MU", 2854), ("AMD", 40)]
    assert "still held 3 min after the flatten time (15:45 ET): MU 2,854 sh, AMD 40 sh" in (
        late.message
    )
    assert "the exit-manager is not running" in late.message
    assert late.data["exit_manager"] == {"running": False, "status": None}
    assert late.data["gateway_running"] is False
    assert "the simulated gateway is not running" in late.message
    assert any("ALERT not flat" in line for line in rig.said)
    rig.tick(sup, at(TRADING_DAY, 16, 0))
    rig.tick(sup, at(TRADING_DAY, 16, 2))
    _, closing = rig.events("NOT_FLAT")
    assert closing.data["stage"] == "close" and "open overnight" in closing.message
    # a supervisor started again (killed, then resumed) does not say it a third time
    again = rig.supervisor()
    rig.tick(again, at(TRADING_DAY, 16, 3))
    assert len(rig.events("NOT_FLAT")) == 2
    assert set(rig.ledger.day_steps(TRADING_DAY)) >= {"not_flat_flatten", "not_flat_close"}


def test_a_flat_book_raises_no_alert(tmp_path: Path, calendar: ExchangeCalendar) -> None:
    rig = Rig(tmp_path, calendar, at(TRADING_DAY, 15, 0))
    pid = held(rig.ledger, "MU", 100)
    sup = rig.supervisor()
    rig.tick(sup)
    rig.ledger.start_exit(pid, ExitReason.FLATTEN)
    intent = OrderIntent(
        OrderRef("MU-flat"),
        Symbol("MU"),
        Side.SELL,
        Quantity(100),
        OrderType.MARKET,
        TimeInForce.DAY,
        OrderRole.FLATTEN,
    )
    rig.ledger.record_order(pid, intent, "exit-manager")
    rig.ledger.update_order(intent.order_ref, OrderStatus.SUBMITTED)
    flat_at = at(TRADING_DAY, 15, 45, 5)
    rig.ledger.record_exit_fill(
        Fill(
            "MU-flat.x1",
            intent.order_ref,
            Symbol("MU"),
            Side.SELL,
            Quantity(100),
            Price(Decimal("99")),
            flat_at,
            Money(Decimal(1)),
        ),
        TRADING_DAY,
    )
    for minute in (48, 50, 59):
        rig.tick(sup, at(TRADING_DAY, 15, minute))
    rig.tick(sup, at(TRADING_DAY, 16, 1))
    assert not rig.events("NOT_FLAT")
