"""Compose ``openbell gateway``: the simulated IB Gateway replaying stored or bundled bars.

The gateway replays one session at a time on a sim clock and moves on to the next session
when the previous one's extended hours are over. The clock is the shared simulation clock
when ``OPENBELL_SIM_ANCHOR`` is set (so the bots and the gateway agree on the time); else the
gateway starts its own at ``start`` on ``day`` and runs ``speed`` times faster than the wall.
Started by the supervisor (``OPENBELL_SUPERVISOR_PID`` set), it stops once the supervisor is
gone, like the bots.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from openbell.adapters.clock import SIM_ANCHOR_ENV, SimAnchor, SimClock
from openbell.backtest.sources import open_source, venue_config
from openbell.bars.frame import DayBars
from openbell.bars.source import BarSource
from openbell.config.settings import Settings
from openbell.domain.errors import InvalidValue, NotATradingDay
from openbell.domain.sessions import NEW_YORK, RelativeTime, Session
from openbell.ports import Calendar, Clock
from openbell.runtime.bots import SUPERVISOR_PID_ENV, StopFlag
from openbell.venue.tws.account import Holding
from openbell.venue.tws.faults import Fault
from openbell.venue.tws.gateway import GatewayConfig, TwsGateway
from openbell.venue.tws.journal import earlier_life, read_journal

DEFAULT_START = RelativeTime.parse("open - 90m")
_ORPHAN_CHECK_S = 0.5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayRequest:
    day: date | None = None
    """The first session to replay (None: the sim clock's upcoming session)."""
    symbols: tuple[str, ...] | None = None
    data: str = "demo"
    speed: float = 1.0
    start: RelativeTime = DEFAULT_START
    faults: tuple[str, ...] = ()
    account: str = "DU1234567"
    cash: float = 100_000.0
    holdings: tuple[Holding, ...] = ()
    journal: Path | None = None


@dataclass
class DayLoader:
    """The bars of each session for the replayed symbols."""

    source: BarSource
    symbols: Sequence[str]
    calendar: Calendar

    def bars(self, session: Session) -> dict[str, DayBars]:
        found = {}
        for symbol in self.symbols:
            day_bars = self.source.day(symbol, session.trading_day)
            if day_bars is not None and len(day_bars):
                found[symbol] = day_bars
        return found

    def next_day(self, after: date) -> tuple[Session, Mapping[str, DayBars]] | None:
        session = self.calendar.next_session(after)
        bars = self.bars(session)
        return (session, bars) if bars else None


def build_gateway(
    request: ReplayRequest,
    settings: Settings,
    calendar: Calendar,
    environ: Mapping[str, str] | None = None,
) -> tuple[TwsGateway, Session]:
    """The gateway with its first day loaded and its faults scheduled.

    With ``OPENBELL_SUPERVISOR_PID`` in the environment, also :func:`stop_when_orphaned`.
    """
    env = os.environ if environ is None else environ
    stop_when_orphaned(env)
    source, universe = open_source(request.data, settings, calendar)
    symbols = _symbols(request.symbols, universe)
    clock, session = _clock_and_session(request, calendar, env)
    loader = DayLoader(source, symbols, calendar)
    bars = loader.bars(session)
    if not bars:
        raise InvalidValue(
            f"bars for {session.trading_day}",
            f"at least one of {len(symbols)} symbols in the {request.data!r} data",
            "none (choose another --day)",
        )
    config = GatewayConfig(
        account=request.account,
        cash=request.cash,
        holdings=request.holdings,
        venue=venue_config(settings),
        journal=request.journal,
    )
    run = _run_of(env)
    earlier = [] if run is None or request.journal is None else _earlier(request.journal, run)
    first = _first_session(earlier[0], calendar) if earlier else session
    faults = [Fault.parse(text, session.trading_day) for text in request.faults]
    gateway = TwsGateway(config, clock, calendar, next_day=loader.next_day)
    try:
        gateway.load_day(first, bars if first == session else loader.bars(first))
        if earlier:  # this run's gateway died and was restarted: rebuild its account
            gateway.replay(earlier)
            # a fault due by now was the earlier life's (or fell while none was up): not again
            now = clock.now()
            faults = [f for f in faults if f.at is None or f.at > now]
    except BaseException:
        gateway.close_journal()
        raise
    gateway.faults = faults
    if run is not None:
        gateway.mark_start(run)
    return gateway, session


def _run_of(env: Mapping[str, str]) -> str | None:
    """The run this gateway serves: its shared sim clock, which is new for every run."""
    anchor = env.get(SIM_ANCHOR_ENV)
    return None if anchor is None else hashlib.sha256(anchor.encode()).hexdigest()[:16]


def _earlier(journal: Path, run: str) -> list[dict[str, object]]:
    try:
        return earlier_life(read_journal(journal), run)
    except (OSError, UnicodeDecodeError, KeyError, ValueError) as exc:
        raise InvalidValue(f"gateway journal {journal}", "a readable journal", repr(exc)) from None


def _first_session(record: Mapping[str, object], calendar: Calendar) -> Session:
    """The session of the journal's first record of this run: where its replay starts."""
    try:
        day = datetime.fromisoformat(str(record["at"])).astimezone(NEW_YORK).date()
        return calendar.session(day)
    except (KeyError, ValueError, NotATradingDay) as exc:
        raise InvalidValue(
            "the gateway journal's first record of this run",
            "a sim time on a trading day",
            f"{str(record)[:200]} ({type(exc).__name__}: {exc})",
        ) from None


def stop_when_orphaned(environ: Mapping[str, str]) -> threading.Thread | None:
    """Send this process SIGTERM once the supervisor named in ``OPENBELL_SUPERVISOR_PID`` is
    gone; return the thread that watches (None when no supervisor is named).

    SIGTERM is how the supervisor itself stops the gateway (a clean close). A supervisor killed
    with SIGKILL stops nothing, and the gateway runs in its own session: without this it would
    keep its port and go on replaying with nobody left to stop it.
    """
    parent = environ.get(SUPERVISOR_PID_ENV, "")
    if not parent.isdigit():
        return None
    supervisor = StopFlag(int(parent))

    def watch() -> None:
        while not supervisor.wait(_ORPHAN_CHECK_S):
            pass
        log.warning("stopping: %s", supervisor.reason)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch, name="openbell-supervisor-watch", daemon=True)
    watcher.start()
    return watcher


def _symbols(wanted: tuple[str, ...] | None, universe: Sequence[str]) -> list[str]:
    if not wanted:
        return list(universe)
    unknown = sorted(set(wanted) - set(universe))
    if unknown:
        raise InvalidValue("--symbols", f"symbols in the data ({len(universe)} known)", unknown)
    return list(wanted)


def _clock_and_session(
    request: ReplayRequest, calendar: Calendar, env: Mapping[str, str]
) -> tuple[Clock, Session]:
    if SIM_ANCHOR_ENV in env:
        shared = SimClock(SimAnchor.from_env(env))
        session = calendar.upcoming_session(shared.now())
        if request.day is not None and request.day != session.trading_day:
            raise InvalidValue(
                "--day",
                f"the shared sim clock's session {session.trading_day} (or no --day)",
                request.day,
            )
        return shared, session
    if request.day is None:
        raise InvalidValue("--day", "a trading day to replay, e.g. 2016-04-15", None)
    session = calendar.session(request.day)
    start: datetime = request.start.resolve(session)
    anchor = SimAnchor.starting_now(start, request.speed)
    return SimClock(anchor), session
