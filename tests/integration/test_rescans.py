"""Intraday rescans: proposals, a person's decision, and the entries that follow.

The day-trader and the exit desk are stepped minute by minute over the in-process venue with
a real ledger file, as in test_bots_in_process. WULF is the morning's master position; RCAT
only shows up after the open, so only a rescan can propose it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from stepping import run_minutes

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.backtest.sim_broker import SimBroker
from openbell.bars.frame import DayBars, to_ns
from openbell.config import Settings
from openbell.domain.candidates import Candidate, PremarketFeatures, ScoreBatch
from openbell.domain.enums import (
    OrderRole,
    OrderType,
    PositionRole,
    PositionState,
    TimeInForce,
)
from openbell.domain.errors import Conflict
from openbell.domain.records import OrderRecord
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Confidence, Money, Price, Symbol
from openbell.services.exit_desk import ExitDesk
from openbell.services.exits import ExitManager
from openbell.services.rescans import EXPIRED_BY, Proposal, RescanRules, approval_step
from openbell.services.trading import DayTrader, TradingRules
from openbell.strategy.selection import SelectionRules
from openbell.venue import FixedCommission, MatchingEngine, NoSlippage, VenueConfig

CALENDAR = ExchangeCalendar.nyse()
DAY = date(2016, 4, 29)
WULF, RCAT = Symbol("WULF"), Symbol("RCAT")


class TwoSymbolMarket:
    """MarketData: WULF before the open; RCAT too once the session has opened."""

    def __init__(self, session_open: datetime) -> None:
        self._open = session_open

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        ten, twenty = Price(Decimal(10)), Price(Decimal(20))
        rows = [PremarketFeatures(WULF, ten, ten, Decimal(100_000), Decimal(10**6), Decimal(4))]
        if at >= self._open:
            rows.append(
                PremarketFeatures(RCAT, twenty, twenty, Decimal(50_000), Decimal(10**6), Decimal(5))
            )
        return rows


class ConfidentScorer:
    name = "fake-confident"

    def score(self, features: Sequence[PremarketFeatures], trading_day: date) -> ScoreBatch:
        return ScoreBatch(
            tuple(Candidate(f.symbol, Confidence(Decimal("0.9")), f.last_price) for f in features)
        )


def path_bars(symbol: str, session_open: datetime, path: Sequence[float]) -> DayBars:
    """Minute bars of a full session: ``path`` first, then flat at its last price."""
    minutes = 390
    starts = np.array([to_ns(session_open) + i * 60_000_000_000 for i in range(minutes)])
    close = np.array((list(path) + [path[-1]] * minutes)[:minutes], dtype=float)
    return DayBars(
        symbol, DAY, 60, starts, close, close + 0.01, close - 0.01, close, np.full(minutes, 1e6)
    )


class Day:
    def __init__(
        self,
        tmp_path: Path,
        *,
        max_positions: int = 2,
        valid_min: int = 10,
        wulf: Sequence[float] = (10.0,),
    ) -> None:
        self.session = session = CALENDAR.session(DAY)
        self.clock = ManualClock(session.open - timedelta(hours=2))
        self.ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", self.clock, process="test")
        venue = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())
        self.broker = SimBroker(
            MatchingEngine(venue, calendar=CALENDAR),
            self.clock,
            starting_equity=Money(Decimal(100_000)),
        )
        self.broker.load_day(
            session,
            {
                "WULF": path_bars("WULF", session.open, wulf),
                "RCAT": path_bars("RCAT", session.open, [20.0]),
            },
        )
        self.plan = Settings().day_plan()
        self.rules = TradingRules(
            plan=self.plan,
            selection=SelectionRules(3, Settings().strategy.tiers()),
            allocation_pct=Decimal(25),
            stop_loss_pct=Decimal("0.9"),
            protected=frozenset({Symbol("SKYX")}),
            rescans=RescanRules(
                every=timedelta(minutes=15),
                max_positions=max_positions,
                approval_valid=timedelta(minutes=valid_min),
            ),
        )
        self.trader = self.new_trader()
        self.desk = ExitDesk(self.ledger, ExitManager(self.ledger, self.broker), self.plan)

    def new_trader(self) -> DayTrader:
        market = TwoSymbolMarket(self.session.open)
        return DayTrader(self.ledger, self.broker, market, ConfidentScorer(), self.rules)

    def run_until(self, hhmm: str) -> None:
        run_minutes(self, self.at(hhmm))

    def at(self, hhmm: str) -> datetime:
        return datetime.combine(DAY, time.fromisoformat(hhmm), NEW_YORK)

    def requests(self) -> list[tuple[str, str]]:
        return [(str(a.symbol), a.status) for a in self.ledger.approvals(DAY)]

    def rescan_orders(self) -> list[OrderRecord]:
        return [o for o in self.ledger.orders() if o.symbol == RCAT]


def test_a_rescan_proposes_and_nothing_is_sent_until_a_person_approves(tmp_path: Path) -> None:
    day = Day(tmp_path)
    day.run_until("09:44")
    assert day.requests() == []  # the first rescan is at open + 15m
    day.run_until("09:46")
    assert day.requests() == [("RCAT", "PENDING")]  # WULF is held: not proposed again
    [request] = day.ledger.approvals(DAY)
    proposal = Proposal.parse(request.request)
    assert (proposal.price, proposal.target_pct) == (Price(Decimal(20)), Decimal("2.6"))
    assert proposal.rescan_at == day.at("09:45")
    day.run_until("09:50")
    assert day.rescan_orders() == []
    scored = [s for s in day.ledger.scores(DAY) if "rescan_at" in s.inputs]
    assert {str(s.symbol) for s in scored} == {"RCAT"}  # the held WULF is not scored again
    scans = [e for e in day.ledger.events(limit=1000) if e.kind == "SCAN"]
    assert scans[-1].data["at"] == day.at("09:45").isoformat()
    assert scans[-1].data["dropped"] == {"WULF": "already held"}

    day.ledger.decide_approval(request.approval_id, True, "alice")
    day.run_until("09:52")
    [entry] = [o for o in day.rescan_orders() if o.role is OrderRole.ENTRY]
    assert (entry.role, entry.order_type, entry.time_in_force) == (
        OrderRole.ENTRY,
        OrderType.MARKET,
        TimeInForce.DAY,
    )
    [position] = [p for p in day.ledger.positions_of_day(DAY) if p.symbol == RCAT]
    assert position.role is PositionRole.RESCAN and position.state is PositionState.OPEN
    assert position.metadata["approval_id"] == request.approval_id
    assert position.metadata["approved_by"] == "alice"
    # 25 % of the net liquidation at 20.00: 100 000 less the WULF commission buys 1249
    assert position.entry_quantity == 1249
    live = {o.role for o in day.ledger.orders(position.position_id, live_only=True)}
    assert live == {OrderRole.TARGET, OrderRole.STOP}  # the exit-manager protects it
    assert day.ledger.day_steps(DAY)[approval_step(request.approval_id)].detail == "entered"


def test_a_rejected_request_sends_nothing_and_is_not_proposed_again(tmp_path: Path) -> None:
    day = Day(tmp_path)
    day.run_until("09:46")
    [request] = day.ledger.approvals(DAY)
    day.ledger.decide_approval(request.approval_id, False, "bob")
    day.run_until("11:00")
    assert day.requests() == [("RCAT", "REJECTED")]
    assert day.rescan_orders() == []
    steps = day.ledger.day_steps(DAY)
    assert {"rescan:0945", "rescan:1000", "rescan:1045"} <= set(steps)
    assert steps["rescan:1000"].detail == "proposed: none"


def test_a_request_nobody_approves_expires_and_cannot_be_approved_later(tmp_path: Path) -> None:
    day = Day(tmp_path, valid_min=10)
    day.run_until("09:55")
    assert day.requests() == [("RCAT", "PENDING")]
    day.run_until("09:57")
    [request] = day.ledger.approvals(DAY)
    assert (request.status, request.decided_by) == ("REJECTED", EXPIRED_BY)
    with pytest.raises(Conflict):
        day.ledger.decide_approval(request.approval_id, True, "late alice")
    day.run_until("10:30")
    assert day.rescan_orders() == []


def test_an_approval_the_day_trader_sees_too_late_is_refused(tmp_path: Path) -> None:
    day = Day(tmp_path, valid_min=10)
    day.run_until("09:46")
    [request] = day.ledger.approvals(DAY)
    day.ledger.decide_approval(request.approval_id, True, "alice")
    # the day-trader was down for 20 minutes: when it comes back the approval is stale
    day.clock.set(day.at("10:06"))
    day.trader = day.new_trader()
    day.run_until("10:08")
    assert day.rescan_orders() == []
    step = day.ledger.day_steps(DAY)[approval_step(request.approval_id)]
    assert step.detail.startswith("refused: expired")


def test_a_symbol_closed_earlier_today_is_neither_proposed_nor_entered(tmp_path: Path) -> None:
    day = Day(tmp_path, wulf=[10.0] * 5 + [9.8])  # WULF falls through its stop at 09:35
    day.run_until("09:46")
    assert day.ledger.was_closed_on(WULF, DAY)
    assert day.requests() == [("RCAT", "PENDING")]  # WULF is not proposed again
    # a request for WULF all the same (say, written by hand) and approved:
    when = day.at("09:46")
    proposal = Proposal(
        WULF, Confidence(Decimal("0.9")), Price(Decimal(10)), Decimal("2.6"), "hand", "", when
    )
    request = day.ledger.request_approval(DAY, WULF, proposal.to_request())
    day.ledger.decide_approval(request.approval_id, True, "alice")
    day.run_until("09:48")
    entries = [o for o in day.ledger.orders() if o.symbol == WULF and o.role is OrderRole.ENTRY]
    assert len(entries) == 1  # only the morning's
    step = day.ledger.day_steps(DAY)[approval_step(request.approval_id)]
    assert step.detail == "refused: closed earlier today: no re-entry"


def test_each_rescan_slot_and_each_approval_is_acted_on_once_across_restarts(
    tmp_path: Path,
) -> None:
    day = Day(tmp_path, max_positions=1, valid_min=30)
    day.run_until("09:46")
    day.trader = day.new_trader()  # a new life at the same slot proposes nothing new
    day.trader.step(day.clock.now(), day.session)
    assert day.requests() == [("RCAT", "PENDING")]
    day.run_until("10:01")  # the one allowed request is waiting: the 10:00 rescan is skipped
    assert day.ledger.day_steps(DAY)["rescan:1000"].detail.startswith("skipped: 1 rescan")
    [request] = day.ledger.approvals(DAY)
    day.ledger.decide_approval(request.approval_id, True, "alice")
    day.run_until("10:02")
    day.trader = day.new_trader()
    day.run_until("10:05")
    assert len([o for o in day.rescan_orders() if o.role is OrderRole.ENTRY]) == 1
