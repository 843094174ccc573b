"""Pre-market features computed from bars, with nothing from after the scan time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import numpy as np

from openbell.bars.frame import DailyBars, to_ns
from openbell.bars.source import BarSource
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.values import Price, Symbol

ATR_DAYS = 14
VOLUME_DAYS = 20


def _price(value: float) -> Price:
    return Price(Decimal(repr(round(float(value), 4))))


def _history(daily: DailyBars, day: date) -> slice | None:
    """The rows strictly before ``day`` (at most the last 20), or None if fewer than 2."""
    days = daily.days.astype("datetime64[D]")
    end = int(np.searchsorted(days, np.datetime64(day, "D"), side="left"))
    start = max(0, end - VOLUME_DAYS)
    return slice(start, end) if end - start >= 2 else None


def _atr_pct(daily: DailyBars, rows: slice) -> float:
    high, low, close = daily.high[rows], daily.low[rows], daily.close[rows]
    previous = np.concatenate([[close[0]], close[:-1]])
    true_range = np.maximum(high - low, np.maximum(abs(high - previous), abs(low - previous)))
    return float(true_range[-ATR_DAYS:].mean() / close[-1] * 100)


class BarMarketData:
    """The MarketData port over a bar source: what a scanner could have known at ``at``."""

    def __init__(self, source: BarSource, universe: Sequence[str]) -> None:
        self._source = source
        self._universe = list(universe)
        self._daily: dict[str, DailyBars | None] = {}

    def _daily_of(self, name: str) -> DailyBars | None:
        """The symbol's whole daily series, read once (history is sliced by day)."""
        if name not in self._daily:
            self._daily[name] = self._source.daily(name)
        return self._daily[name]

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        names = [s.value for s in symbols] if symbols is not None else self._universe
        rows = []
        for name in names:
            row = self._features(name, trading_day, at)
            if row is not None:
                rows.append(row)
        return rows

    def _features(self, name: str, day: date, at: datetime) -> PremarketFeatures | None:
        daily = self._daily_of(name)
        rows = _history(daily, day) if daily is not None else None
        if daily is None or rows is None:
            return None
        previous_close = float(daily.close[rows][-1])
        last, volume = previous_close, 0.0
        bars = self._source.day(name, day)
        if bars is not None:
            seen = bars.start_ns + bars.resolution_s * 1_000_000_000 <= to_ns(at)
            if seen.any():
                last = float(bars.close[seen][-1])
                volume = float(bars.volume[seen].sum())
        return PremarketFeatures(
            Symbol(name),
            _price(previous_close),
            _price(last),
            Decimal(int(volume)),
            Decimal(int(daily.volume[rows].mean())),
            Decimal(repr(round(_atr_pct(daily, rows), 4))),
        )
