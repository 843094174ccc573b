"""The backtest day loop: the same services the bots run, over stored bars.

Each trading day: at the scan time the morning service scores and plans; at the entry time
the entry service records and sends the orders; the exit manager turns every fill into a
protected position; from the flatten time it flattens. The broker is the in-process venue,
the clock a manual clock moved from one event to the next, the ledger a SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.backtest.market import BarMarketData
from openbell.backtest.metrics import Trade
from openbell.backtest.sim_broker import SimBroker
from openbell.backtest.trades import trades_of_day
from openbell.bars.frame import DayBars
from openbell.bars.source import BarSource
from openbell.domain.enums import OrderRole
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import Fill
from openbell.domain.positions import Position
from openbell.domain.sessions import Session
from openbell.domain.values import Money, Symbol
from openbell.ports import Broker, Calendar, LlmJournal, Scorer
from openbell.services.entries import send_entries
from openbell.services.exits import ExitManager
from openbell.services.morning import MorningPlan, plan_the_morning
from openbell.strategy.management import day_is_done
from openbell.strategy.scanner import ScanFilters
from openbell.strategy.schedule import DayPlan, DayTimeline
from openbell.strategy.scoring import RuleScorer
from openbell.strategy.selection import SelectionRules
from openbell.strategy.timing import EntryTiming
from openbell.venue import MatchingEngine, VenueConfig

_STEP = timedelta(minutes=1)
_REACTION = timedelta(seconds=1)


class SteppedBroker(Broker, Protocol):
    """A Broker whose market the runner moves: the in-process venue, or the whole IB wire
    path to a simulated gateway (:class:`~openbell.runtime.loopback.GatewayBroker`)."""

    def load_day(
        self,
        session: Session,
        bars: Mapping[str, DayBars],
        seconds: Mapping[str, DayBars] | None = None,
    ) -> None: ...

    def advance_to(self, at: datetime) -> None: ...

    def close(self) -> None: ...


BrokerFactory = Callable[[ManualClock], SteppedBroker]


@dataclass(frozen=True)
class BacktestConfig:
    start: date
    end: date
    universe: tuple[str, ...]
    plan: DayPlan
    rules: SelectionRules
    allocation_pct: Decimal
    stop_loss_pct: Decimal
    starting_equity: Money
    timing: EntryTiming = field(default_factory=EntryTiming)
    protected: frozenset[Symbol] = frozenset()
    venue: VenueConfig = field(default_factory=VenueConfig)
    scorer: Scorer = field(default_factory=RuleScorer)
    scorer_for: Callable[[LlmJournal], Scorer] | None = None
    """Build the scorer on the run's ledger (an LLM scorer journals its calls there); when
    set it replaces ``scorer``."""
    scan: ScanFilters = field(default_factory=ScanFilters)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidValue("backtest range", f"an end on or after {self.start}", self.end)
        if not self.universe:
            raise InvalidValue("backtest universe", "at least one symbol", "none")


@dataclass
class BacktestResult:
    trades: list[Trade] = field(default_factory=list)
    sessions: int = 0
    days_done_early: int = 0
    days_without_data: list[date] = field(default_factory=list)
    ledger_path: Path | None = None
    bars: dict[tuple[str, str], DayBars] = field(default_factory=dict)
    """The intraday bars of every traded symbol-day, for charts."""


class _Day:
    """The collaborators of one run, and one day's replay."""

    def __init__(
        self,
        config: BacktestConfig,
        source: BarSource,
        ledger: SqliteLedger,
        clock: ManualClock,
        broker: SteppedBroker,
    ) -> None:
        self.config, self.source, self.ledger = config, source, ledger
        self.clock, self.broker = clock, broker
        self.market = BarMarketData(source, config.universe)
        self.scorer = config.scorer_for(ledger) if config.scorer_for else config.scorer
        self.manager = ExitManager(ledger, broker)

    def replay(self, session: Session, result: BacktestResult) -> None:
        timeline = self.config.plan.resolve(session)
        day = session.trading_day
        self.clock.set(max(self.clock.now(), timeline.scan))
        with self.ledger.batch():
            plan = self._morning(day, timeline)
        self._trade_the_day(session, timeline, plan, result)

    def _morning(self, day: date, timeline: DayTimeline) -> MorningPlan:
        return plan_the_morning(
            self.ledger,
            self.market,
            self.scorer,
            trading_day=day,
            at=timeline.scan,
            rules=self.config.rules,
            equity=self.broker.net_liquidation(),
            allocation_pct=self.config.allocation_pct,
            stop_loss_pct=self.config.stop_loss_pct,
            protected=self.config.protected,
            filters=self.config.scan,
        )

    def _trade_the_day(
        self, session: Session, timeline: DayTimeline, plan: MorningPlan, result: BacktestResult
    ) -> None:
        day = session.trading_day
        names = [p.symbol.value for p in plan.planned]
        bars = self._bars(day, names)
        # 1-second bars, where the source has them, settle which of target and stop came first.
        self.broker.load_day(session, bars, self._bars(day, names, resolution_s=1))
        self._move(timeline.scan, day)
        entry_at = self.config.timing.submit_at(timeline)
        self._move(entry_at, day)
        send_entries(self.ledger, self.broker, plan.planned, self.config.timing)
        # Just past the entry's fill, so the exit manager protects it within a second.
        filled_by = session.open if self.config.timing.is_moo else entry_at
        self._move(filled_by + _REACTION, day)
        self._follow_entries(plan.planned, filled_by + _REACTION, timeline.flatten, day)
        self._move(timeline.flatten, day)
        self._flatten(timeline, day)
        if day_is_done(self.ledger.positions_of_day(day)):
            result.days_done_early += 1
        trades = trades_of_day(self.ledger, day, bars)
        result.trades.extend(trades)
        for trade in trades:
            result.bars[(trade.symbol, day.isoformat())] = bars[trade.symbol]
        if plan.planned and not bars:
            result.days_without_data.append(day)

    def _follow_entries(
        self, planned: Sequence[Position], at: datetime, until: datetime, day: date
    ) -> None:
        """Step a minute at a time while an entry still works (partial fills capped by volume),
        so every later fill is protected within the minute it happens."""
        while at < until and any(
            o.role is OrderRole.ENTRY
            for p in planned
            for o in self.ledger.orders(p.position_id, live_only=True)
        ):
            at += _STEP
            self._move(at, day)

    def _bars(
        self, day: date, symbols: Sequence[str], resolution_s: int = 60
    ) -> dict[str, DayBars]:
        loaded = {name: self.source.day(name, day, resolution_s) for name in symbols}
        return {name: bars for name, bars in loaded.items() if bars is not None}

    def _move(self, until: datetime, day: date) -> None:
        """Advance the venue to ``until``, applying each event at its own instant."""
        self.broker.advance_to(until)
        with self.ledger.batch():  # one transaction per step: the backtest owns its ledger
            for event in self.broker.events():
                at = event.executed_at if isinstance(event, Fill) else event.at
                self.clock.set(max(self.clock.now(), at))
                self.manager.apply([event], day)
        self.clock.set(max(self.clock.now(), until))

    def _flatten(self, timeline: DayTimeline, day: date) -> None:
        """Flatten from the flatten time: cancels the venue confirms at once are applied at
        the same instant, so the market sell goes out at the flatten time itself."""
        at = timeline.flatten
        close = timeline.session.close
        while not self.manager.flatten():
            confirmations = self.broker.events()
            if confirmations:
                self.manager.apply(confirmations, day)
                continue
            if at >= close:
                break
            at += _STEP
            self._move(at, day)
        self._move(close, day)


def run_backtest(
    config: BacktestConfig,
    calendar: Calendar,
    source: BarSource,
    ledger_path: Path,
    on_day: Callable[[date], None] | None = None,
    broker_factory: BrokerFactory | None = None,
) -> BacktestResult:
    """Replay every session from ``config.start`` to ``config.end``.

    ``broker_factory`` builds the broker on the run's clock (default: the in-process venue).
    """
    sessions = _sessions(calendar, config.start, config.end)
    result = BacktestResult(ledger_path=ledger_path)
    if not sessions:
        return result
    clock = ManualClock(config.plan.wake.resolve(sessions[0]) - timedelta(hours=1))
    ledger = SqliteLedger.open(
        ledger_path, clock, process="backtest", protected_symbols=config.protected, durable=False
    )
    if broker_factory is None:
        engine = MatchingEngine(config.venue, calendar=calendar)
        broker: SteppedBroker = SimBroker(engine, clock, starting_equity=config.starting_equity)
    else:
        broker = broker_factory(clock)
    replay = _Day(config, source, ledger, clock, broker)
    try:
        for session in sessions:
            replay.replay(session, result)
            result.sessions += 1
            if on_day is not None:
                on_day(session.trading_day)
    finally:
        broker.close()
        ledger.close()
    return result


def _sessions(calendar: Calendar, start: date, end: date) -> list[Session]:
    sessions = []
    day = start
    if not calendar.is_trading_day(day):
        day = calendar.next_session(day).trading_day
    while day <= end:
        sessions.append(calendar.session(day))
        day = calendar.next_session(day).trading_day
    return sessions
