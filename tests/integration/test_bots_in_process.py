"""The two bots' services stepped minute by minute in one process, on the in-process venue.

The same DayTrader and ExitDesk the bot processes run, with each broker event routed to the
bot that owns the order (as IB routes it to the client id that placed it), a real ledger file
and the real NYSE calendar. Fast enough to cover the schedule's edge cases one by one.
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
from openbell.domain.enums import ExitReason, OrderRole, PositionState
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Confidence, Money, Price, Symbol
from openbell.services.exit_desk import LIQUIDATE_MANAGED, LIQUIDATE_TODAY, ExitDesk
from openbell.services.exits import ExitManager
from openbell.services.trading import SMART_SHUTDOWN, DayTrader, TradingRules
from openbell.services.watch import TapeWatch
from openbell.strategy.selection import SelectionRules
from openbell.venue import FixedCommission, MatchingEngine, NoSlippage, VenueConfig

WULF = Symbol("WULF")
CALENDAR = ExchangeCalendar.nyse()


class OneSymbolMarket:
    """MarketData: WULF, last traded at 10.00 before the open."""

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        ten = Price(Decimal(10))
        return [PremarketFeatures(WULF, ten, ten, Decimal(100_000), Decimal(1_000_000), Decimal(4))]


class ConfidentScorer:
    name = "fake-confident"

    def score(self, features: Sequence[PremarketFeatures], trading_day: date) -> ScoreBatch:
        return ScoreBatch(
            tuple(Candidate(f.symbol, Confidence(Decimal("0.9")), f.last_price) for f in features)
        )


def bars(day: date, path: Sequence[float]) -> DayBars:
    """Minute bars from the open to the close: ``path`` first, then flat at its last price."""
    session = CALENDAR.session(day)
    minutes = int((session.close - session.open).total_seconds() // 60)
    prices = (list(path) + [path[-1]] * minutes)[:minutes]
    start = to_ns(session.open)
    starts = np.array([start + i * 60_000_000_000 for i in range(minutes)])
    close = np.array(prices, dtype=float)
    return DayBars(
        "WULF", day, 60, starts, close, close + 0.01, close - 0.01, close, np.full(minutes, 1e6)
    )


class Day:
    def __init__(self, tmp_path: Path, day: date, path: Sequence[float]) -> None:
        session = CALENDAR.session(day)
        self.session = session
        self.clock = ManualClock(session.open - timedelta(hours=2))
        self.ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", self.clock, process="test")
        venue = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())
        self.broker = SimBroker(
            MatchingEngine(venue, calendar=CALENDAR),
            self.clock,
            starting_equity=Money(Decimal(100_000)),
        )
        self.broker.load_day(session, {"WULF": bars(day, path)})
        plan = Settings().day_plan()
        rules = TradingRules(
            plan=plan,
            selection=SelectionRules(3, Settings().strategy.tiers()),
            allocation_pct=Decimal(25),
            stop_loss_pct=Decimal("0.9"),
        )
        self.trader = DayTrader(
            self.ledger, self.broker, OneSymbolMarket(), ConfidentScorer(), rules
        )
        self.desk = ExitDesk(self.ledger, ExitManager(self.ledger, self.broker), plan)

    def run_until(self, end: datetime) -> None:
        run_minutes(self, end)

    def at(self, hhmm: str) -> datetime:
        return datetime.combine(self.session.trading_day, time.fromisoformat(hhmm), NEW_YORK)


def test_a_half_day_flattens_at_12_45(tmp_path: Path) -> None:
    day = Day(tmp_path, date(2016, 11, 25), [10.0])  # flat: neither target nor stop
    day.run_until(day.at("13:10"))
    [position] = day.ledger.positions_of_day(day.session.trading_day)
    assert position.state is PositionState.CLOSED and position.exit_reason is ExitReason.FLATTEN
    [flatten] = [o for o in day.ledger.orders() if o.role is OrderRole.FLATTEN]
    # at 12:45 the target and stop are cancelled; the market sell follows their confirmation
    # (the next step here: a minute; a tick in the bot process)
    cancelled = [o for o in day.ledger.orders() if o.role in (OrderRole.TARGET, OrderRole.STOP)]
    assert {o.updated_at.astimezone(NEW_YORK).time() for o in cancelled} == {time(12, 45)}
    assert day.at("12:45") <= flatten.created_at <= day.at("12:46")
    assert position.closed_at is not None and position.closed_at < day.session.close


def test_an_entry_fills_at_the_open_and_is_protected_from_the_real_fill(tmp_path: Path) -> None:
    day = Day(tmp_path, date(2016, 4, 29), [10.0, 10.1])
    day.run_until(day.at("09:32"))
    [position] = day.ledger.positions_of_day(day.session.trading_day)
    assert position.state is PositionState.OPEN and position.opened_at == day.session.open
    assert position.target_price == Price(Decimal("10.26"))  # +2.6% of the 10.00 fill
    assert position.stop_price == Price(Decimal("9.91"))
    live = {o.role for o in day.ledger.orders(live_only=True)}
    assert live == {OrderRole.TARGET, OrderRole.STOP}


def test_every_master_at_target_is_a_smart_shutdown(tmp_path: Path) -> None:
    day = Day(tmp_path, date(2016, 4, 29), [10.0, 10.1, 10.5])
    day.run_until(day.at("09:40"))
    [position] = day.ledger.positions_of_day(day.session.trading_day)
    assert position.exit_reason is ExitReason.TARGET
    assert SMART_SHUTDOWN in day.ledger.day_steps(day.session.trading_day)


def test_a_restarted_day_trader_sends_no_second_entry(tmp_path: Path) -> None:
    day = Day(tmp_path, date(2016, 4, 29), [10.0])
    day.run_until(day.at("09:26"))  # the MOO went out at 09:25 (open - 5m)
    assert len([o for o in day.ledger.orders() if o.role is OrderRole.ENTRY]) == 1
    # a new life of the day-trader over the same ledger and broker
    reborn = DayTrader(
        day.ledger, day.broker, OneSymbolMarket(), ConfidentScorer(), day.trader._rules
    )
    assert [str(r) for r in reborn.start()] == ["ob-20160429-WULF-1-entry"]
    day.trader = reborn
    day.run_until(day.at("09:35"))
    entries = [o for o in day.ledger.orders() if o.role is OrderRole.ENTRY]
    assert len(entries) == 1 and entries[0].filled_quantity > 0


@pytest.mark.parametrize("control", ["kill_switch", "entries_paused"])
def test_halted_entries_are_abandoned_before_they_are_sent(tmp_path: Path, control: str) -> None:
    day = Day(tmp_path, date(2016, 4, 29), [10.0])
    day.run_until(day.at("08:45"))  # planned at the scan
    day.ledger.set_control(control, True, "test")
    day.run_until(day.at("09:40"))
    [position] = day.ledger.positions_of_day(day.session.trading_day)
    assert position.state is PositionState.ABANDONED
    assert day.ledger.orders() == []


class FakeFeed:
    """PriceFeed: remembers subscriptions; the test pushes prices."""

    def __init__(self) -> None:
        self.watching: dict[Symbol, object] = {}

    def subscribe(self, symbol: Symbol, on_price: object) -> None:
        self.watching[symbol] = on_price

    def unsubscribe(self, symbol: Symbol) -> None:
        self.watching.pop(symbol, None)


@pytest.mark.parametrize(("price", "reason"), [("10.30", "TARGET"), ("9.90", "STOP")])
def test_the_monitored_mode_sells_at_market_when_a_trade_crosses_a_level(
    tmp_path: Path, price: str, reason: str
) -> None:
    day = Day(tmp_path, date(2016, 4, 29), [10.0])
    manager = ExitManager(day.ledger, day.broker, resting_exits=False)
    feed = FakeFeed()
    in_hours = [True]
    watch = TapeWatch(day.ledger, manager, feed, lambda: in_hours[0])
    day.desk = ExitDesk(day.ledger, manager, Settings().day_plan(), watch)
    day.run_until(day.at("09:31"))
    [position] = day.ledger.positions_of_day(day.session.trading_day)
    assert list(feed.watching) == [WULF]
    assert day.ledger.orders(live_only=True) == []  # nothing rests at the broker
    watch.on_price(WULF, Price(Decimal("10.10")))  # between the levels: nothing
    in_hours[0] = False
    watch.on_price(WULF, Price(Decimal(price)))  # outside regular hours: nothing
    assert day.ledger.orders(live_only=True) == []
    in_hours[0] = True
    watch.on_price(WULF, Price(Decimal(price)))
    watch.on_price(WULF, Price(Decimal(price)))  # a second crossing sends nothing more
    [sell] = day.ledger.orders(live_only=True)
    assert (str(sell.order_type), str(sell.role)) == ("MARKET", reason)
    assert sell.quantity.value == position.entry_quantity
    assert day.ledger.position(position.position_id or 0).exit_reason == reason


def test_a_position_protected_after_its_entry_is_left_alone_without_a_crash(
    tmp_path: Path,
) -> None:
    day = Day(tmp_path, date(2016, 4, 29), [10.0])
    day.run_until(day.at("09:32"))  # WULF is held, with its target and stop working
    # the user adds WULF to protection.protected_symbols and restarts the exit-manager (the
    # day-trader keeps its own connection to the same file, as another process would)
    day.ledger = SqliteLedger.open(
        tmp_path / "ledger.sqlite", day.clock, process="test", protected_symbols=frozenset({WULF})
    )
    manager = ExitManager(day.ledger, day.broker)
    day.desk = ExitDesk(day.ledger, manager, Settings().day_plan())
    request = day.ledger.request_work(LIQUIDATE_MANAGED, "sell everything")
    day.run_until(day.at("09:34"))
    served = day.ledger.operator_request(request.request_id)
    assert (served.status, served.outcome) == (
        "FAILED",
        "flat; left alone: refusing to exit WULF: it is in protection.protected_symbols, "
        "so openbell never trades it",
    )
    day.run_until(day.at("15:50"))
    assert day.desk.step(day.clock.now(), day.session) == "flat: the flatten time has passed"
    assert manager.left_alone() == {
        "WULF": "refusing to exit WULF: it is in protection.protected_symbols, "
        "so openbell never trades it"
    }
    assert not [o for o in day.ledger.orders() if o.role is OrderRole.FLATTEN]
    working = {o.role for o in day.ledger.orders(live_only=True)}
    assert working == {OrderRole.TARGET, OrderRole.STOP}  # its orders were not touched either
    notes = [e for e in day.ledger.events(limit=1000) if e.kind == "UNPROTECTED"]
    assert len(notes) == 1 and "leaves position 1 alone" in notes[0].message


def test_a_liquidation_of_an_earlier_day_is_not_applied_to_todays_positions(
    tmp_path: Path,
) -> None:
    day = Day(tmp_path, date(2016, 4, 29), [10.0])
    yesterday = ManualClock(day.clock.now() - timedelta(days=1))
    cli = SqliteLedger.open(tmp_path / "ledger.sqlite", yesterday, process="cli")
    stale = cli.request_work(LIQUIDATE_TODAY, "flatten yesterday's")  # never served
    cli.close()
    day.run_until(day.at("09:32"))
    [position] = day.ledger.positions_of_day(day.session.trading_day)
    assert position.state is PositionState.OPEN  # today's position is kept
    done = day.ledger.operator_request(stale.request_id)
    assert (done.status, done.outcome) == (
        "FAILED",
        "not served on 2016-04-28: today's positions are not its",
    )


def test_a_liquidation_of_every_managed_position_asked_on_an_earlier_day_is_not_served(
    tmp_path: Path,
) -> None:
    """A kill switch's request nobody served on its day is not acted on days later."""
    day = Day(tmp_path, date(2016, 4, 29), [10.0])
    yesterday = ManualClock(day.clock.now() - timedelta(days=1))
    cli = SqliteLedger.open(tmp_path / "ledger.sqlite", yesterday, process="dashboard")
    stale = cli.request_work(LIQUIDATE_MANAGED, "kill switch from the dashboard")
    cli.close()
    day.run_until(day.at("09:32"))
    [position] = day.ledger.positions_of_day(day.session.trading_day)
    assert position.state is PositionState.OPEN
    assert position.held_quantity > 0  # kept: nobody asked for it today
    done = day.ledger.operator_request(stale.request_id)
    assert done.status == "FAILED"
    assert done.outcome.startswith("not served on 2016-04-28: a liquidation is acted on the day")
