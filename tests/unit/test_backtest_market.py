from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np

from openbell.backtest.market import BarMarketData
from openbell.backtest.memory import MemoryBars
from openbell.bars.frame import NEW_YORK, DailyBars, DayBars, to_ns
from openbell.domain.values import Symbol

DAY = date(2016, 4, 27)


def daily(symbol: str, closes: list[float]) -> DailyBars:
    days = np.array(
        [np.datetime64(DAY - timedelta(days=len(closes) - i), "D") for i in range(len(closes))]
    )
    c = np.array(closes)
    return DailyBars(symbol, days, c, c * 1.02, c * 0.98, c, np.full(len(c), 1_000_000.0))


def premarket(symbol: str, prints: list[tuple[str, float, float]]) -> DayBars:
    starts = [to_ns(datetime.combine(DAY, time.fromisoformat(t), NEW_YORK)) for t, _, _ in prints]
    px = np.array([p for _, p, _ in prints])
    return DayBars(
        symbol,
        DAY,
        60,
        np.array(starts, dtype=np.int64),
        px,
        px,
        px,
        px,
        np.array([v for _, _, v in prints]),
    )


def test_features_use_only_what_was_known_before_the_scan() -> None:
    source = MemoryBars(
        daily=[daily("WULF", [10.0] * 25)],
        days=[
            premarket(
                "WULF",
                [
                    ("08:00", 10.4, 20_000),
                    ("08:29", 10.6, 30_000),
                    ("08:30", 11.5, 999_999),
                    ("09:30", 12.0, 5_000_000),
                ],
            )
        ],
    )
    scan = datetime.combine(DAY, time(8, 30), NEW_YORK)
    (row,) = BarMarketData(source, ["WULF"]).premarket_features(DAY, scan)
    assert row.symbol == Symbol("WULF")
    assert row.last_price.value == Decimal("10.6")  # the 08:30 bar was not finished yet
    assert row.premarket_volume == 50_000
    assert row.gap_pct == Decimal(6)
    assert row.average_daily_volume == 1_000_000
    assert row.atr_pct == Decimal(4)  # high - low = 4% of a flat 10.00 close


def test_no_pre_market_trades_means_the_previous_close_and_no_history_no_row() -> None:
    source = MemoryBars(daily=[daily("QUIET", [20.0] * 25), daily("NEW", [5.0])])
    scan = datetime.combine(DAY, time(8, 30), NEW_YORK)
    rows = BarMarketData(source, ["QUIET", "NEW", "MISSING"]).premarket_features(DAY, scan)
    assert [(r.symbol.value, r.gap_pct, r.premarket_volume) for r in rows] == [("QUIET", 0, 0)]
    assert BarMarketData(source, []).premarket_features(DAY, scan, [Symbol("QUIET")])[0].symbol


def test_memory_source_slices_daily_bars_by_date() -> None:
    source = MemoryBars(daily=[daily("WULF", [10.0, 11.0, 12.0])])
    sliced = source.daily("WULF", DAY - timedelta(days=2), DAY - timedelta(days=1))
    assert sliced is not None and list(sliced.close) == [11.0, 12.0]
    assert source.daily("WULF", DAY, DAY) is None
    assert source.daily("NOPE") is None
    assert source.day("WULF", DAY) is None


def test_a_scan_the_morning_after_the_last_daily_bar_uses_all_of_it() -> None:
    source = MemoryBars(daily=[daily("WULF", [10.0] * 24 + [11.0])])  # ends the day before
    scan = datetime.combine(DAY, time(8, 30), NEW_YORK)
    (row,) = BarMarketData(source, ["WULF"]).premarket_features(DAY, scan)
    assert row.previous_close.value == Decimal(11)
    assert row.average_daily_volume == 1_000_000
