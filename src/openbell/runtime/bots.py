"""The two bots as processes: ``python -m openbell day-trader`` and ``... exit-manager``.

Each bot is one IB client id, one ledger connection and one loop that reads like its steps:
let ib_async read the socket, book what the broker reported, take the step due now, beat.
The loop is crash-only: it starts by reconciling, and any failure it does not understand
ends the process so the supervisor restarts it (the next life reconciles again).

* A transient failure (IB down, the ledger busy) is logged and retried on the next tick.
* A broken invariant (an execution of ours that cannot be booked) halts trading: the bot
  keeps beating with status ``halted`` so a person looks, instead of being restarted into
  the same fault.
* SIGTERM or SIGINT ends the loop after the current step; so does the supervisor's death.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import FrameType
from typing import Protocol

from openbell.config import RuntimeSettings
from openbell.domain.broker import BrokerEvent
from openbell.domain.errors import BrokerUnavailable, RefusedInput, RetryLater, StopAndAlert
from openbell.domain.sessions import NEW_YORK, Session
from openbell.ports import Broker, Calendar, Clock, Ledger

log = logging.getLogger(__name__)

SUPERVISOR_PID_ENV = "OPENBELL_SUPERVISOR_PID"
"""Set by the supervisor: a bot whose supervisor is gone stops instead of running orphaned."""

_MAX_CONNECT_BACKOFF_S = 30.0
_OFFLINE = "IB is not connected and reconciled: no orders go out"


class Bot(Protocol):
    """What a bot process runs: the day-trader or the exit-manager service."""

    def start(self) -> object:
        """Reconcile with the broker (called once connected)."""
        ...

    def apply(self, events: Sequence[BrokerEvent], trading_day: date) -> None: ...

    def step(self, now: datetime, session: Session) -> str:
        """Take the step due at ``now``; return what the bot is doing, for the heartbeat."""
        ...


class ConnectedBroker(Broker, Protocol):
    """A broker with a connection the loop drives (the IB adapter)."""

    @property
    def ready(self) -> bool: ...

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def pump(self, seconds: float = 0.0) -> None: ...


def session_at(calendar: Calendar, now: datetime) -> Session:
    """The session of ``now``'s New York date if it trades, else the next session.

    Not ``upcoming_session``: after today's close, fills of today still belong to today.
    """
    day = now.astimezone(NEW_YORK).date()
    if calendar.is_trading_day(day):
        return calendar.session(day)
    return calendar.next_session(day)


class StopFlag:
    """Set by SIGTERM/SIGINT, or when the supervisor that started this process is gone."""

    def __init__(self, parent_pid: int | None = None) -> None:
        self._event = threading.Event()
        self._parent_pid = parent_pid
        self.reason = ""

    def install(self) -> None:
        """Route SIGTERM and SIGINT here (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.set(f"signal {signal.Signals(signum).name}")

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            self.set(f"the supervisor (pid {self._parent_pid}) is gone")
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds) or self.is_set()


@dataclass
class _Beat:
    status: str = "starting"
    detail: str = ""
    last_wall: float = 0.0


class BotLoop:
    """Connect, reconcile, then loop until stopped. Build with every collaborator."""

    def __init__(
        self,
        bot: Bot,
        broker: ConnectedBroker,
        ledger: Ledger,
        clock: Clock,
        calendar: Calendar,
        runtime: RuntimeSettings,
        stop: StopFlag,
        wall: Callable[[], float] = time.monotonic,
        check_connection: Callable[[], None] = lambda: None,
    ) -> None:
        """``check_connection`` runs once connected; if it refuses (the account IB manages
        is not the configured one, or of the other kind), the bot halts before acting."""
        self._bot, self._broker, self._ledger = bot, broker, ledger
        self._check_connection = check_connection
        self._clock, self._calendar, self._runtime = clock, calendar, runtime
        self._stop, self._wall = stop, wall
        self._beat = _Beat()
        self._halted: str | None = None
        self._link_up = True
        """Whether IB was ready at the last tick (connected once ``run`` starts cycling)."""
        self._unapplied: list[BrokerEvent] = []
        """Broker news a busy ledger kept from being booked: the broker hands each event out
        once, so these are applied first at the next tick, never dropped."""

    def run(self) -> int:
        """Run until stopped; return the process exit code (0: stopped on purpose)."""
        if self._connect():
            try:
                self._check_connection()
            except RefusedInput as exc:
                self._halt(exc)
            if self._halted is None:
                self._bot.start()
            while not self._stop.is_set():
                self._broker.pump(self._runtime.tick_s)
                self._cycle()
                self._heartbeat()
        log.info("stopping: %s", self._stop.reason or "asked to")
        self._last_beat("stopped", self._stop.reason)
        return 0

    def _last_beat(self, status: str, detail: str, attempts: int = 5) -> None:
        """The last word is worth a few tries: a busy ledger (every process stopping at
        once) must not leave the process reported "running" after it is gone."""
        for attempt in range(attempts):
            try:
                self._ledger.beat(status, detail[:500])
                return
            except RetryLater as exc:
                log.warning("last heartbeat not written (try %d): %s", attempt + 1, exc)
                time.sleep(0.2)

    def _connect(self) -> bool:
        backoff = self._runtime.tick_s
        while not self._stop.is_set():
            try:
                self._broker.connect()
            except BrokerUnavailable as exc:
                self._set("connecting", f"{exc}; next attempt in {backoff:.1f} s")
                self._heartbeat()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_CONNECT_BACKOFF_S)
                continue
            log.info("connected to IB and reconciled")
            return True
        return False

    def _cycle(self) -> None:
        if self._halted is not None:
            return
        now = self._clock.now()
        session = session_at(self._calendar, now)
        ready = self._broker.ready
        try:
            # The link first: news that must wait for IB (a cancel after a fill) would
            # otherwise keep a lost link out of the ledger and the heartbeat for the outage.
            self._note_link(ready)
            self._apply(session.trading_day)
            if ready:
                self._set("running", self._bot.step(now, session))
            else:
                self._set("reconnecting", _OFFLINE)
        except RetryLater as exc:
            if ready:
                self._set("retrying", str(exc))
            else:
                self._set("reconnecting", f"{_OFFLINE}; waiting: {exc}")
        except StopAndAlert as exc:
            self._halt(exc)

    def _apply(self, trading_day: date) -> None:
        """Hand the bot the broker's news one event at a time, oldest first. If the ledger is
        busy (RetryLater), the event that could not be booked and those after it wait for the
        next tick; what was booked is not handed out again."""
        waiting = [*self._unapplied, *self._broker.events()]
        for index, event in enumerate(waiting):
            try:
                self._bot.apply([event], trading_day)
            except RetryLater:
                self._unapplied = waiting[index:]
                raise
        self._unapplied = []

    def _note_link(self, ready: bool) -> None:
        """Journal each loss and return of the IB link (the health report counts them)."""
        if ready == self._link_up:
            return
        kind, message = (
            ("RECONNECTED", "IB connected and reconciled again")
            if ready
            else ("DISCONNECTED", "lost the IB connection: no orders go out until it is back")
        )
        self._ledger.append_event(kind, message)  # a busy ledger: noted again next tick
        self._link_up = ready

    def _halt(self, exc: StopAndAlert | RefusedInput) -> None:
        self._halted = str(exc)
        log.critical("halted: %s", exc)
        self._ledger.append_event("HALTED", f"stopped acting: {exc}; a person must look")
        self._set("halted", str(exc))

    def _set(self, status: str, detail: str) -> None:
        if (status, detail) != (self._beat.status, self._beat.detail):
            log.info("%s: %s", status, detail)
        self._beat.status, self._beat.detail = status, detail

    def _heartbeat(self) -> None:
        if self._wall() - self._beat.last_wall >= self._runtime.heartbeat_s:
            self._send_beat(self._beat.status, self._beat.detail)

    def _send_beat(self, status: str, detail: str) -> None:
        try:
            self._ledger.beat(status, detail[:500])
            self._beat.last_wall = self._wall()
        except RetryLater as exc:  # a busy ledger: the next tick tries again
            log.warning("heartbeat not written: %s", exc)
