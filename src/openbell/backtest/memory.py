"""A bar source held in memory (tests, benchmarks, and data generated on the fly)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np

from openbell.bars.frame import DailyBars, DayBars, Split


class MemoryBars:
    """The BarSource port over bars already in memory."""

    def __init__(
        self,
        daily: Iterable[DailyBars] = (),
        days: Iterable[DayBars] = (),
        splits: Iterable[Split] = (),
    ) -> None:
        self._daily = {bars.symbol: bars for bars in daily}
        self._splits = sorted(splits, key=lambda s: s.last_day_before)
        self._days = {(bars.symbol, bars.trading_day, bars.resolution_s): bars for bars in days}

    def splits(self, symbol: str) -> Sequence[Split]:
        return [s for s in self._splits if s.symbol == symbol]

    def add_day(self, bars: DayBars) -> None:
        self._days[(bars.symbol, bars.trading_day, bars.resolution_s)] = bars

    def day(self, symbol: str, day: date, resolution_s: int = 60) -> DayBars | None:
        return self._days.get((symbol, day, resolution_s))

    def daily(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> DailyBars | None:
        bars = self._daily.get(symbol)
        if bars is None:
            return None
        days = bars.days.astype("datetime64[D]")
        keep = np.ones(len(days), dtype=bool)
        if start is not None:
            keep &= days >= np.datetime64(start, "D")
        if end is not None:
            keep &= days <= np.datetime64(end, "D")
        if not keep.any():
            return None
        return DailyBars(
            bars.symbol,
            bars.days[keep],
            bars.open[keep],
            bars.high[keep],
            bars.low[keep],
            bars.close[keep],
            bars.volume[keep],
            bars.basis,
            bars.source,
        )
