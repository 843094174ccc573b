"""The strategy replayed on real days from ../shared/data/real, with exact fills and exits.

A fixed scorer picks the day's symbol, so these tests are about execution: the opening print,
targets, stops through gaps, the flatten on a half day, prices after a split. Every expected
price is also derived here from the bars themselves.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from openbell.adapters.bars.importers.dispatch import import_path
from openbell.adapters.bars.store import BarStore
from openbell.adapters.calendar import ExchangeCalendar
from openbell.backtest.metrics import Trade
from openbell.backtest.runner import BacktestConfig, run_backtest
from openbell.bars.frame import NEW_YORK, DayBars, to_ns
from openbell.config import load_settings
from openbell.domain.candidates import Candidate, PremarketFeatures, ScoreBatch
from openbell.domain.enums import Side
from openbell.domain.values import Confidence, Money
from openbell.strategy.selection import SelectionRules
from openbell.venue import Fill as VenueFill
from openbell.venue import (
    FixedCommission,
    MatchingEngine,
    Tif,
    VenueConfig,
    VenueOrder,
    VenueOrderType,
)

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
LEAN = REAL / "lean" / "equity" / "usa"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"real data not found at {REAL}")
SLIPPAGE = Decimal("0.0002")  # the venue's default 2 bps on market and stop fills


class PickEverything:
    name = "fixed-0.9"

    def score(self, features: list[PremarketFeatures], trading_day: date) -> ScoreBatch:
        return ScoreBatch(
            tuple(
                Candidate(f.symbol, Confidence(Decimal("0.9")), f.last_price, "test pick")
                for f in features
            )
        )


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar.nyse()


def replay(
    tmp_path: Path, calendar: ExchangeCalendar, symbol: str, day: date, files: list[Path]
) -> tuple[Trade, DayBars]:
    store = BarStore(tmp_path / "bars")
    for file in files:
        import_path(file, store)
    settings = load_settings(None, dotenv_file=None).settings
    config = BacktestConfig(
        start=day,
        end=day,
        universe=(symbol,),
        plan=settings.day_plan(),
        rules=SelectionRules(3, settings.strategy.tiers()),
        allocation_pct=Decimal(25),
        stop_loss_pct=Decimal("0.9"),
        starting_equity=Money(Decimal(100_000)),
        scorer=PickEverything(),
    )
    result = run_backtest(config, calendar, store, tmp_path / "ledger.sqlite")
    (trade,) = result.trades
    bars = store.day(symbol, day)
    assert bars is not None
    return trade, bars


def dec(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal("0.0001"))


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), NEW_YORK)


def first_rth(bars: DayBars, day: date) -> int:
    return bars.index_at_or_after(at(day, "09:30"))


def first_bar_reaching(
    bars: DayBars, start: int, *, high: float | None = None, low: float | None = None
) -> int:
    hits = bars.high[start:] >= high if high is not None else bars.low[start:] <= low
    assert hits.any()
    return start + int(np.argmax(hits))


def test_aapl_2016_04_27_moo_at_the_gapped_open_then_the_target(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    day = date(2016, 4, 27)  # earnings: an 8% gap down from 104.35
    trade, bars = replay(
        tmp_path,
        calendar,
        "AAPL",
        day,
        [REAL / "react-stockcharts" / "AAPL_INTRA_DAY.tsv", LEAN / "daily" / "aapl.zip"],
    )
    i = first_rth(bars, day)
    assert trade.entry_at == at(day, "09:30")
    assert trade.entry_price == Decimal("96.0000") == dec(bars.open[i])
    assert (trade.target_price, trade.stop_price) == (Decimal("98.50"), Decimal("95.14"))
    # The bracket goes in just after the opening print, so it works from the 09:31 bar on
    # (the 09:30 bar's range, up to 98.71, had already happened).
    hit = first_bar_reaching(bars, i + 1, high=98.50)
    assert bars.low[i + 1 : hit + 1].min() > 95.14  # the stop was never touched first
    assert trade.exit_reason == "TARGET"
    assert trade.exit_price == Decimal("98.5000")  # a limit fills at its price, no slippage
    assert trade.exit_at == bars.start(hit) + timedelta(minutes=1) == at(day, "11:30")
    assert trade.quantity == 239  # 25% of $100,000 at the 08:30 reference price


def test_a_resting_stop_through_the_aapl_earnings_gap_fills_at_the_open(
    calendar: ExchangeCalendar, tmp_path: Path
) -> None:
    store = BarStore(tmp_path / "bars")
    import_path(REAL / "react-stockcharts" / "AAPL_INTRA_DAY.tsv", store)
    engine = MatchingEngine(VenueConfig(commission=FixedCommission()), calendar=calendar)
    for day in (date(2016, 4, 26), date(2016, 4, 27)):
        bars = store.day("AAPL", day)
        assert bars is not None
        engine.load_day(calendar.session(day), {"AAPL": bars})
        if day == date(2016, 4, 26):
            engine.submit(
                VenueOrder(1, 1, "AAPL", Side.BUY, 100, VenueOrderType.MKT), at(day, "15:00")
            )
            engine.submit(
                VenueOrder(
                    2, 1, "AAPL", Side.SELL, 100, VenueOrderType.STP, Tif.GTC, stop_price=103.00
                ),
                at(day, "15:30"),
            )
    fills = [
        e for e in engine.advance_to(at(date(2016, 4, 27), "10:00")) if isinstance(e, VenueFill)
    ]
    (stop_fill,) = [f for f in fills if f.order_id == 2]
    assert stop_fill.time == at(date(2016, 4, 27), "09:30")
    # Never the stop price (103.00) through the gap: the open (96.00) less 2 bps.
    assert stop_fill.price == pytest.approx(96.00 * (1 - 0.0002))


def test_spy_2011_03_15_earthquake_gap_is_held_and_flattened_at_15_45(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    day = date(2011, 3, 15)  # gap down after the Japan earthquake; the file crosses DST
    trade, bars = replay(
        tmp_path,
        calendar,
        "SPY",
        day,
        [REAL / "pyalgotrade" / "nt-spy-minute-2011-03.csv", LEAN / "daily" / "spy.zip"],
    )
    i = first_rth(bars, day)
    assert bars.start(i) == at(day, "09:30")  # 13:30 UTC after the switch to EDT
    assert trade.entry_price == dec(bars.open[i]) == Decimal("126.5800")
    assert (trade.target_price, trade.stop_price) == (Decimal("129.87"), Decimal("125.44"))
    flat = bars.index_at_or_after(at(day, "15:45"))
    assert bars.high[i + 1 : flat].max() < 129.87
    assert bars.low[i + 1 : flat].min() > 125.44
    assert trade.exit_reason == "FLATTEN"
    assert trade.exit_at == at(day, "15:45")
    expected = dec(bars.open[flat]) * (1 - SLIPPAGE)
    assert trade.exit_price == expected.quantize(Decimal("0.0001"))


def test_goog_2015_12_24_half_day_flattens_at_12_45(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    day = date(2015, 12, 24)  # the exchange closes at 13:00
    trade, bars = replay(
        tmp_path,
        calendar,
        "GOOG",
        day,
        [LEAN / "minute" / "goog" / "20151224_trade.zip", LEAN / "daily" / "goog.zip"],
    )
    i = first_rth(bars, day)
    assert trade.entry_price == dec(bars.open[i])
    assert trade.exit_reason == "FLATTEN"
    assert trade.exit_at == at(day, "12:45")
    flat = bars.index_at_or_after(at(day, "12:45"))
    expected = dec(bars.open[flat]) * (1 - SLIPPAGE)
    assert trade.exit_price == expected.quantize(Decimal("0.0001"))


def test_aapl_2014_06_09_after_the_split_trades_raw_prices(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    day = date(2014, 6, 9)  # first session after the 7:1 split: ~$93, not ~$645
    trade, bars = replay(
        tmp_path,
        calendar,
        "AAPL",
        day,
        [LEAN / "minute" / "aapl" / "20140609_trade.zip", LEAN / "daily" / "aapl.zip"],
    )
    i = first_rth(bars, day)
    assert trade.entry_price == dec(bars.open[i]) == Decimal("92.6900")
    assert (trade.target_price, trade.stop_price) == (Decimal("95.10"), Decimal("91.86"))
    # Sized on the last pre-market price before the 08:30 scan, never on the pre-split $645.
    seen = bars.start_ns + 60_000_000_000 <= to_ns(at(day, "08:30"))
    reference = Decimal(repr(float(bars.close[seen][-1])))
    assert reference < 100
    assert trade.quantity == int(Decimal(25_000) / reference) == 271
    hit = first_bar_reaching(bars, i + 1, low=91.86)
    assert bars.high[i + 1 : hit + 1].max() < 95.10
    assert trade.exit_reason == "STOP"
    assert trade.exit_at == bars.start(hit) + timedelta(minutes=1)
    stop_level = min(Decimal("91.86"), dec(bars.open[hit]))
    assert trade.exit_price == (stop_level * (1 - SLIPPAGE)).quantize(Decimal("0.0001"))
