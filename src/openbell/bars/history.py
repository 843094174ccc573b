"""What was known of a symbol's daily history before a given day opened: the previous
close, the 20-day average volume and the 14-day ATR as % of that close. Shared by the
backtester's scan and the providers' (Massive, FMP) scans, so both compute the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from openbell.bars.frame import DailyBars, Split

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
class DailyHistory:
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
    def of(cls, daily: DailyBars, splits: Sequence[Split]) -> DailyHistory:
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
