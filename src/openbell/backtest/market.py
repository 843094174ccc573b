"""Pre-market features computed from bars, with nothing from after the scan time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from openbell.bars.frame import DailyBars, Split, to_ns
from openbell.bars.source import BarSource
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.values import Price, Symbol, decimal_from_float

ATR_DAYS = 14
VOLUME_DAYS = 20
_F64 = npt.NDArray[np.float64]


def _trailing_mean(values: _F64, window: int) -> _F64:
    """Position i (0..len): the mean of the up to ``window`` values before it (NaN at 0)."""
    sums = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(len(values) + 1)
    starts = np.maximum(0, ends - window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((sums[ends] - sums[starts]) / (ends - starts), dtype=np.float64)


@dataclass(frozen=True)
class _History:
    """For each position i of a daily series (0..len), what was known before row i opened:
    the close of row i-1, the 20-day average volume and the 14-day ATR as % of that close.
    Position len describes the day after the series ends (today, before its bar exists).

    Prices and volumes are kept in the latest split basis; :meth:`basis_factor` converts them
    to the basis of the day asked about, so a split day sees yesterday's close divided by the
    split ratio, not a -86 % "gap".
    """

    days: npt.NDArray[np.datetime64]
    previous_close: _F64
    average_volume: _F64
    atr_pct: _F64
    splits: tuple[Split, ...]

    @classmethod
    def of(cls, daily: DailyBars, splits: Sequence[Split]) -> _History:
        days = daily.days.astype("datetime64[D]")
        later_splits = np.ones(len(days))
        for split in splits:
            later_splits[days <= np.datetime64(split.last_day_before, "D")] *= split.ratio
        high, low = daily.high / later_splits, daily.low / later_splits
        close = daily.close / later_splits
        before = np.concatenate([[close[0]], close[:-1]])
        true_range = np.maximum(high - low, np.maximum(abs(high - before), abs(low - before)))
        previous = np.concatenate([[np.nan], close])
        with np.errstate(invalid="ignore", divide="ignore"):
            atr_pct = _trailing_mean(true_range, ATR_DAYS) / previous * 100
        volume = _trailing_mean(daily.volume * later_splits, VOLUME_DAYS)
        return cls(days, previous, volume, atr_pct, tuple(splits))

    def position(self, day: date) -> int | None:
        """The position describing ``day``, if at least two sessions came before it."""
        found = int(np.searchsorted(self.days, np.datetime64(day, "D"), side="left"))
        return found if found >= 2 else None

    def basis_factor(self, day: date) -> float:
        """How many of ``day``'s shares one share of the latest basis is."""
        factor = 1.0
        for split in self.splits:
            if split.last_day_before >= day:
                factor *= split.ratio
        return factor


class BarMarketData:
    """The MarketData port over a bar source: what a scanner could have known at ``at``.

    Each symbol's daily history is read once and turned into per-day arrays (previous close,
    20-day average volume, 14-day ATR as % of the close), so a morning's scan is lookups.
    """

    def __init__(self, source: BarSource, universe: Sequence[str]) -> None:
        self._source = source
        self._universe = list(universe)
        self._history: dict[str, _History | None] = {}

    def _history_of(self, name: str) -> _History | None:
        if name not in self._history:
            daily = self._source.daily(name)
            self._history[name] = (
                None
                if daily is None or len(daily) < 2
                else _History.of(daily, self._source.splits(name))
            )
        return self._history[name]

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        names = [s.value for s in symbols] if symbols is not None else self._universe
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
