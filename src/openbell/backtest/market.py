"""Pre-market features computed from bars, with nothing from after the scan time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import numpy as np

from openbell.bars.frame import to_ns
from openbell.bars.history import DailyHistory
from openbell.bars.source import BarSource
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.values import Price, Symbol, decimal_from_float


class BarMarketData:
    """The MarketData port over a bar source: what a scanner could have known at ``at``.

    Each symbol's daily history is read once and turned into per-day arrays (previous close,
    20-day average volume, 14-day ATR as % of the close), so a morning's scan is lookups.
    """

    def __init__(self, source: BarSource, universe: Sequence[str]) -> None:
        self._source = source
        self._universe = list(universe)
        self._history: dict[str, DailyHistory | None] = {}

    def _history_of(self, name: str) -> DailyHistory | None:
        if name not in self._history:
            daily = self._source.daily(name)
            self._history[name] = (
                None
                if daily is None or len(daily) < 2
                else DailyHistory.of(daily, self._source.splits(name))
            )
        return self._history[name]

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        asked = [s.value for s in symbols] if symbols is not None else self._universe
        names = list(dict.fromkeys(asked))  # each symbol once, in the order first asked
        cutoff = to_ns(at)
        rows = []
        for name in names:
            row = self._features(name, trading_day, cutoff)
            if row is not None:
                rows.append(row)
        return rows

    def _features(self, name: str, day: date, cutoff_ns: int) -> PremarketFeatures | None:
        history = self._history_of(name)
        i = history.position(day) if history is not None else None
        if history is None or i is None:
            return None
        factor = history.basis_factor(day)
        previous_close = float(history.previous_close[i]) * factor
        last, volume = previous_close, 0.0
        bars = self._source.day(name, day)
        if bars is not None:
            # bars that had ended by the cutoff: those starting one bar length before it
            seen = int(
                np.searchsorted(bars.start_ns, cutoff_ns - bars.resolution_s * 10**9, side="right")
            )
            if seen:
                last = float(bars.close[seen - 1])
                volume = float(bars.volume[:seen].sum())
        return PremarketFeatures(
            Symbol(name),
            Price.from_float(previous_close, 4),
            Price.from_float(last, 4),
            Decimal(int(volume)),
            Decimal(int(history.average_volume[i] / factor)),
            decimal_from_float(history.atr_pct[i], 4),
        )
