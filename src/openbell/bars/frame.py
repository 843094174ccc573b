"""The bar containers: one symbol-day of intraday bars, and a run of daily bars."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Basis(StrEnum):
    """Which prices the bars carry. Raw and split-adjusted series are never mixed."""

    RAW = "raw"
    SPLIT_ADJUSTED = "split_adjusted"


def _check_ohlc(what: str, o: F64, h: F64, lo: F64, c: F64, v: F64) -> None:
    n = len(o)
    if not all(len(a) == n for a in (h, lo, c, v)):
        raise InvalidValue(
            what, "equal-length open/high/low/close/volume columns", "ragged columns"
        )
    if n == 0:
        return
    # NaN fails every comparison, so "not (x > 0)" catches missing prices too.
    if not (lo > 0).all() or not np.isfinite(h).all():
        raise InvalidValue(what, "finite prices above 0", "a non-positive or missing price")
    bad = (h < np.maximum(o, c) - 1e-9) | (lo > np.minimum(o, c) + 1e-9)
    if bad.any():
        raise InvalidValue(
            what, "low <= open, close <= high on every bar", f"bar {int(np.argmax(bad))}"
        )
    if not (v >= 0).all():
        raise InvalidValue(what, "volumes of 0 or more", "a negative or missing volume")


@dataclass(frozen=True, eq=False)
class DayBars:
    """Intraday bars of one symbol on one trading day, sorted by start, no duplicates."""

    symbol: str
    trading_day: date
    resolution_s: int
    start_ns: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    basis: Basis = Basis.RAW
    synthetic: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        what = f"{self.symbol} {self.trading_day} bars"
        if self.resolution_s <= 0:
            raise InvalidValue(what, "a resolution in seconds above 0", self.resolution_s)
        _check_ohlc(what, self.open, self.high, self.low, self.close, self.volume)
        if len(self.start_ns) != len(self.open):
            raise InvalidValue(what, "one start time per bar", len(self.start_ns))
        if len(self.start_ns) > 1 and (np.diff(self.start_ns) <= 0).any():
            at = int(np.argmax(np.diff(self.start_ns) <= 0)) + 1
            raise InvalidValue(what, "strictly increasing bar starts", f"bar {at} out of order")

    @classmethod
    def trusted(cls, *args: object, **kwargs: object) -> DayBars:
        """Build without the checks, for producers that guarantee them by construction.

        Only code that draws bars itself may use this (the benchmark's generator); bars read
        from files always go through the checks.
        """
        bars = object.__new__(cls)
        values = dict(zip(_DAY_FIELDS, args, strict=False))
        values.update(kwargs)
        for name, default in _DAY_DEFAULTS.items():
            values.setdefault(name, default)
        for name in _DAY_FIELDS:
            object.__setattr__(bars, name, values[name])
        return bars

    def __len__(self) -> int:
        return len(self.start_ns)

    def start(self, index: int) -> datetime:
        """Bar ``index``'s start as an aware New York time."""
        return from_ns(int(self.start_ns[index]))

    def index_at_or_after(self, instant: datetime) -> int:
        """The first bar starting at or after ``instant`` (len(self) if none)."""
        return int(np.searchsorted(self.start_ns, to_ns(instant), side="left"))

    def between(self, start: datetime, end: datetime) -> slice:
        """The bars whose start lies in [start, end)."""
        return slice(self.index_at_or_after(start), self.index_at_or_after(end))


_DAY_FIELDS = tuple(f.name for f in fields(DayBars))
_DAY_DEFAULTS = {f.name: f.default for f in fields(DayBars) if f.default is not MISSING}


@dataclass(frozen=True, eq=False)
class DailyBars:
    """Daily bars of one symbol (regular session), sorted by day."""

    symbol: str
    days: npt.NDArray[np.datetime64]
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    basis: Basis = Basis.RAW
    source: str = ""

    def __post_init__(self) -> None:
        what = f"{self.symbol} daily bars"
        _check_ohlc(what, self.open, self.high, self.low, self.close, self.volume)
        if (
            len(self.days) > 1
            and (np.diff(self.days.astype("datetime64[D]").astype(np.int64)) <= 0).any()
        ):
            raise InvalidValue(what, "strictly increasing days", "days out of order")

    def __len__(self) -> int:
        return len(self.days)

    def between(self, start: date | None = None, end: date | None = None) -> DailyBars | None:
        """The bars from ``start`` to ``end`` inclusive (either open), or None if none."""
        days = self.days.astype("datetime64[D]")
        lo = 0 if start is None else int(np.searchsorted(days, np.datetime64(start, "D")))
        hi = (
            len(days)
            if end is None
            else int(np.searchsorted(days, np.datetime64(end, "D"), side="right"))
        )
        if hi <= lo:
            return None
        rows = slice(lo, hi)
        return DailyBars(
            self.symbol,
            self.days[rows],
            self.open[rows],
            self.high[rows],
            self.low[rows],
            self.close[rows],
            self.volume[rows],
            self.basis,
            self.source,
        )

    def row(self, day: date) -> int | None:
        """The index of ``day``, or None if the series has no bar for it."""
        days = self.days.astype("datetime64[D]")
        at = int(np.searchsorted(days, np.datetime64(day, "D")))
        return at if at < len(days) and days[at] == np.datetime64(day, "D") else None


def to_ns(instant: datetime) -> int:
    """An aware datetime as UTC epoch nanoseconds."""
    if instant.utcoffset() is None:
        raise InvalidValue("instant", "a timezone-aware datetime", instant)
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(start_ns: int) -> datetime:
    """UTC epoch nanoseconds as an aware New York time (microsecond precision)."""
    return (_EPOCH + timedelta(microseconds=start_ns // 1000)).astimezone(NEW_YORK)


@dataclass(frozen=True, slots=True)
class Split:
    """A stock split: from the session after ``last_day_before``, one old share is ``ratio``
    new shares (7.0 for AAPL's 7:1 of 2014-06-09), so old prices divide by ``ratio``."""

    symbol: str
    last_day_before: date
    ratio: float

    def __post_init__(self) -> None:
        if not (self.ratio > 0 and np.isfinite(self.ratio)) or self.ratio == 1:
            raise InvalidValue(
                f"{self.symbol} split ratio", "a positive ratio other than 1", self.ratio
            )
