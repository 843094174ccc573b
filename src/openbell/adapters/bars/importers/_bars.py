"""Checked OHLCV columns, New York time conversion, and cutting rows into bar containers.

Checks run vectorised and report the first offending row by its line in the source file, so a
bad file is refused with a message a person can act on before any bar container is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from openbell.adapters.bars.importers._table import F64, I64, BoolArray, TextTable
from openbell.adapters.bars.importers.base import BadBarFile
from openbell.bars import NEW_YORK, Basis, DailyBars, DayBars

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Rows:
    """Parsed rows of one series: a sortable stamp (ns), OHLCV in dollars, source lines."""

    origin: str
    stamp_ns: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    lines: I64

    def __len__(self) -> int:
        return len(self.lines)

    def take(self, rows: BoolArray | I64) -> Rows:
        """The selected rows, by mask or index array."""
        return Rows(
            self.origin,
            self.stamp_ns[rows],
            self.open[rows],
            self.high[rows],
            self.low[rows],
            self.close[rows],
            self.volume[rows],
            self.lines[rows],
        )

    def scaled(self, divisor: float) -> Rows:
        """Prices divided by ``divisor`` (Lean deci-cents: 10,000); volume unchanged."""
        return Rows(
            self.origin,
            self.stamp_ns,
            self.open / divisor,
            self.high / divisor,
            self.low / divisor,
            self.close / divisor,
            self.volume,
            self.lines,
        )

    def with_stamps(self, stamp_ns: I64) -> Rows:
        """The same rows with new stamps (e.g. bar ends turned into bar starts)."""
        return Rows(
            self.origin,
            stamp_ns,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.lines,
        )


def ohlcv_rows(table: TextTable, names: tuple[str, str, str, str, str], stamp_ns: I64) -> Rows:
    """Rows from ``table``'s columns named open, high, low, close, volume (in that order)."""
    o, h, lo, c, v = (table.numbers(name) for name in names)
    return Rows(table.origin, stamp_ns, o, h, lo, c, v, table.lines)


def check_rows(rows: Rows, show: Callable[[int], str]) -> None:
    """Refuse the first row with a price at or below 0, OHLC out of order or a negative volume,
    or a stamp not after the one before; ``show(ns)`` renders a stamp for the message."""
    prices = np.stack([rows.open, rows.high, rows.low, rows.close])
    positive = np.isfinite(prices).all(axis=0) & (prices > 0).all(axis=0)
    _refuse_first(rows, np.asarray(~positive, dtype=np.bool_), "prices above 0")
    disorder = (rows.high < np.maximum(rows.open, rows.close) - _TOLERANCE) | (
        rows.low > np.minimum(rows.open, rows.close) + _TOLERANCE
    )
    _refuse_first(rows, disorder, "low <= open, close <= high")
    _refuse_first(rows, ~np.isfinite(rows.volume) | (rows.volume < 0), "a volume of 0 or more")
    if len(rows) > 1:
        late = np.flatnonzero(np.diff(rows.stamp_ns) <= 0)
        if len(late):
            at = int(late[0]) + 1
            raise BadBarFile(
                rows.origin,
                int(rows.lines[at]),
                f"times in increasing order (after {show(int(rows.stamp_ns[at - 1]))} "
                f"on line {int(rows.lines[at - 1])})",
                show(int(rows.stamp_ns[at])),
            )


def _refuse_first(rows: Rows, bad: BoolArray, expected: str) -> None:
    if bad.any():
        i = int(np.argmax(bad))
        found = (
            f"open={rows.open[i]:g} high={rows.high[i]:g} low={rows.low[i]:g} "
            f"close={rows.close[i]:g} volume={rows.volume[i]:g}"
        )
        raise BadBarFile(rows.origin, int(rows.lines[i]), expected, found)


def show_utc(stamp_ns: int) -> str:
    """A UTC epoch-ns stamp as text, for messages."""
    return str(pd.Timestamp(stamp_ns, unit="ns", tz="UTC"))


def show_naive(stamp_ns: int) -> str:
    """A naive (wall-clock) epoch-ns stamp as text, for messages."""
    return str(pd.Timestamp(stamp_ns, unit="ns"))


def new_york_to_utc(rows: Rows) -> Rows:
    """Rows stamped with naive New York wall-clock ns, restamped as UTC epoch ns.

    Refuses a wall-clock time that does not exist or is ambiguous (the DST switch hour).
    """
    local = pd.DatetimeIndex(rows.stamp_ns.astype("datetime64[ns]"))
    aware = local.tz_localize(NEW_YORK, ambiguous="NaT", nonexistent="NaT")
    missing = np.asarray(aware.isna(), dtype=np.bool_)
    if missing.any():
        i = int(np.argmax(missing))
        raise BadBarFile(
            rows.origin,
            int(rows.lines[i]),
            "a New York time that exists and is unambiguous",
            show_naive(int(rows.stamp_ns[i])),
        )
    return rows.with_stamps(np.asarray(aware.as_unit("ns").asi8, dtype=np.int64))


def new_york_wall_ns(utc_ns: I64) -> I64:
    """Each UTC epoch-ns instant as naive New York wall-clock ns (``// NS_PER_DAY`` = date)."""
    aware = pd.DatetimeIndex(utc_ns.astype("datetime64[ns]")).tz_localize("UTC")
    local = aware.tz_convert(NEW_YORK).tz_localize(None)
    return np.asarray(local.as_unit("ns").asi8, dtype=np.int64)


def new_york_days(utc_ns: I64) -> npt.NDArray[np.datetime64]:
    """The New York calendar date of each UTC epoch-ns instant, as datetime64[D]."""
    return (new_york_wall_ns(utc_ns) // NS_PER_DAY).astype("datetime64[D]")


def check_aligned(rows: Rows, step_ns: int, what: str) -> None:
    """Refuse the first stamp that is not a whole multiple of ``step_ns`` past midnight UTC."""
    _refuse_stamp(rows, rows.stamp_ns % step_ns != 0, what)


def _refuse_stamp(rows: Rows, bad: BoolArray, expected: str) -> None:
    if bad.any():
        i = int(np.argmax(bad))
        raise BadBarFile(rows.origin, int(rows.lines[i]), expected, show_utc(int(rows.stamp_ns[i])))


def split_days(
    symbol: str, resolution_s: int, rows: Rows, *, source: str, basis: Basis = Basis.RAW
) -> tuple[DayBars, ...]:
    """Cut start-stamped UTC rows (sorted) into one :class:`DayBars` per New York date."""
    days = new_york_days(rows.stamp_ns)
    cuts = np.flatnonzero(days[1:] != days[:-1]) + 1
    bounds = zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(rows)]]), strict=True)
    return tuple(
        DayBars(
            symbol=symbol,
            trading_day=days[int(a)].astype(object),
            resolution_s=resolution_s,
            start_ns=rows.stamp_ns[a:b].copy(),
            open=rows.open[a:b].copy(),
            high=rows.high[a:b].copy(),
            low=rows.low[a:b].copy(),
            close=rows.close[a:b].copy(),
            volume=rows.volume[a:b].copy(),
            basis=basis,
            source=source,
        )
        for a, b in bounds
    )


def daily_bars(symbol: str, rows: Rows, *, source: str, basis: Basis) -> DailyBars:
    """Rows stamped with naive midnight ns of each day as a :class:`DailyBars` series."""
    return DailyBars(
        symbol=symbol,
        days=rows.stamp_ns.astype("datetime64[ns]").astype("datetime64[D]"),
        open=rows.open,
        high=rows.high,
        low=rows.low,
        close=rows.close,
        volume=rows.volume,
        basis=basis,
        source=source,
    )


def fold_repeated_starts(rows: Rows) -> Rows:
    """Merge each run of rows sharing one start into a single bar.

    The merged bar opens at the first row's open, closes at the last row's close, spans every
    high and low, and sums the volumes; it keeps the first row's line. Rows must be sorted.
    """
    if len(rows) < 2:
        return rows
    first = np.concatenate([[True], np.diff(rows.stamp_ns) != 0])
    if first.all():
        return rows
    group = np.cumsum(first) - 1
    heads = np.flatnonzero(first)
    tails = np.concatenate([heads[1:], [len(rows)]]) - 1
    high = np.full(len(heads), -np.inf)
    low = np.full(len(heads), np.inf)
    np.maximum.at(high, group, rows.high)
    np.minimum.at(low, group, rows.low)
    return Rows(
        rows.origin,
        rows.stamp_ns[heads],
        rows.open[heads],
        high,
        low,
        rows.close[tails],
        np.bincount(group, weights=rows.volume).astype(np.float64),
        rows.lines[heads],
    )
