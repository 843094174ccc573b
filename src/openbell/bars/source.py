"""Where bars come from: the bar store, the bundled demo data, or bars made in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from openbell.bars.frame import DailyBars, DayBars, Split


class BarSource(Protocol):
    def day(self, symbol: str, day: date, resolution_s: int = 60) -> DayBars | None:
        """One symbol-day of intraday bars, or None if there are none."""
        ...

    def daily(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> DailyBars | None:
        """Daily bars of ``symbol`` from ``start`` to ``end`` inclusive, or None."""
        ...

    def splits(self, symbol: str) -> Sequence[Split]:
        """The known splits of ``symbol``, oldest first (empty when there are none)."""
        ...
