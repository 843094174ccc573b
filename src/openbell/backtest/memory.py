"""A bar source held in memory (tests, benchmarks, and data generated on the fly)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

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
        return bars.between(start, end)
