"""A thin market: entries and exits fill over several minutes, and every share stays protected."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import SystemClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.backtest.memory import MemoryBars
from openbell.backtest.runner import BacktestConfig, run_backtest
from openbell.bars.frame import NEW_YORK, DailyBars, DayBars, to_ns
from openbell.config import load_settings
from openbell.domain.candidates import Candidate, PremarketFeatures, ScoreBatch
from openbell.domain.enums import OrderRole, Side
from openbell.domain.values import Confidence, Money
from openbell.strategy.selection import SelectionRules
from openbell.strategy.timing import EntryTiming

DAY = date(2025, 10, 29)


class PickAll:
    name = "fixed"

    def score(self, features: list[PremarketFeatures], trading_day: date) -> ScoreBatch:
        return ScoreBatch(
            tuple(Candidate(f.symbol, Confidence(Decimal("0.9")), f.last_price) for f in features)
        )


def thin_day() -> DayBars:
    open_ = datetime.combine(DAY, time(9, 30), NEW_YORK)
    starts = np.array([to_ns(open_ + timedelta(minutes=i)) for i in range(390)])
    px = np.full(390, 10.0)
    return DayBars("THIN", DAY, 60, starts, px, px + 0.01, px - 0.01, px, np.full(390, 2000.0))


def history() -> DailyBars:
    days = np.array([np.datetime64(DAY - timedelta(days=30 - i), "D") for i in range(31)])
    c = np.full(31, 10.0)
    return DailyBars("THIN", days, c, c * 1.02, c * 0.98, c, np.full(31, 1e6))


def test_a_late_entry_filled_in_pieces_is_protected_in_full_and_flattened(
    tmp_path: Path,
) -> None:
    settings = load_settings(None, dotenv_file=None).settings
    config = BacktestConfig(
        start=DAY,
        end=DAY,
        universe=("THIN",),
        plan=settings.day_plan(),
        rules=SelectionRules(3, settings.strategy.tiers()),
        allocation_pct=Decimal(25),
        stop_loss_pct=Decimal("0.9"),
        starting_equity=Money(Decimal(100_000)),
        timing=EntryTiming.parse("late:60m"),
        scorer=PickAll(),
    )
    source = MemoryBars(daily=[history()], days=[thin_day()])
    result = run_backtest(config, ExchangeCalendar.nyse(), source, tmp_path / "l.sqlite")
    (trade,) = result.trades
    assert trade.quantity == 2500  # 25% of $100,000 at $10
    assert (trade.exit_reason, trade.exit_at.astimezone(NEW_YORK).time()) == (
        "FLATTEN",
        time(15, 49),  # 500 shares a minute, at the opens of the 15:45..15:49 bars
    )
    ledger = SqliteLedger.open(tmp_path / "l.sqlite", SystemClock(), process="check")
    fills = ledger.fills()
    buys = [f for f in fills if f.side is Side.BUY]
    assert [f.quantity.value for f in buys] == [500] * 5  # capped at 25% of 2,000 a bar
    targets = [o for o in ledger.orders() if o.role is OrderRole.TARGET]
    assert targets[-1].quantity.value == 2500  # the last bracket covered every share
    last_buy = max(f.executed_at for f in buys)
    assert targets[-1].created_at - last_buy <= timedelta(minutes=1)
