"""QuantConnect Lean equity data: minute/second trade zips, daily zips and map files.

Lean stores naive America/New_York wall-clock times and prices as integer deci-cents (divide
by 10,000). Minute and second rows are stamped with milliseconds since local midnight of the
date in the file name, at the bar **start**. Daily rows are stamped ``YYYYMMDD 00:00`` and cover
the regular session. All Lean OHLCV is raw (unadjusted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

from openbell.adapters.bars.importers._bars import (
    NS_PER_DAY,
    NS_PER_S,
    Rows,
    check_rows,
    daily_bars,
    new_york_to_utc,
    ohlcv_rows,
    show_naive,
)
from openbell.adapters.bars.importers._table import (
    TableSpec,
    file_bytes,
    read_table,
    single_csv_in_zip,
)
from openbell.adapters.bars.importers.base import BadBarFile, ParsedFile
from openbell.bars import Basis, DayBars, Split

SOURCE = "lean"
DECI_CENTS_PER_DOLLAR = 10_000.0
RESOLUTION_DIRS = {"minute": 60, "second": 1}
_PRICES = ("open", "high", "low", "close", "volume")
_TRADE = TableSpec(("ms_since_midnight", *_PRICES))
_DAILY = TableSpec(("date", *_PRICES))
_TRADE_NAME = re.compile(r"^(\d{8})_trade\.zip$")
_INNER_NAME = re.compile(r"^(\d{8})_([a-z0-9.\-]+)_(minute|second)_(trade|quote)\.csv$")
_MS_PER_DAY = 86_400_000


def read_lean_trade(path: Path) -> ParsedFile:
    """Parse ``.../{minute|second}/<sym>/<YYYYMMDD>_trade.zip`` into one raw symbol-day.

    Bars keep Lean's start stamps, converted to UTC epoch ns; prices become dollars.
    """
    symbol, day, resolution_s = lean_trade_identity(path)
    origin, data = single_csv_in_zip(path)
    _check_inner_name(path, origin, symbol, day, resolution_s)
    table = read_table(origin, data, _TRADE)
    ms = table.integers("ms_since_midnight")
    midnight_ns = int(np.datetime64(day, "ns").astype(np.int64))
    rows = ohlcv_rows(table, _PRICES, midnight_ns + ms * 1_000_000).scaled(DECI_CENTS_PER_DOLLAR)
    _check_ms(rows, ms, resolution_s)
    check_rows(rows, show_naive)
    rows = new_york_to_utc(rows)
    bars = DayBars(
        symbol=symbol,
        trading_day=day,
        resolution_s=resolution_s,
        start_ns=rows.stamp_ns,
        open=rows.open,
        high=rows.high,
        low=rows.low,
        close=rows.close,
        volume=rows.volume,
        basis=Basis.RAW,
        source=SOURCE,
    )
    return ParsedFile("lean-trade", days=(bars,))


def lean_trade_identity(path: Path) -> tuple[str, date, int]:
    """``(symbol, day, resolution_s)`` from a Lean trade-zip path; refuse any other path."""
    match = _TRADE_NAME.match(path.name)
    resolution_s = RESOLUTION_DIRS.get(path.parent.parent.name)
    if match is None or resolution_s is None:
        expected = "a Lean path .../{minute|second}/<symbol>/<YYYYMMDD>_trade.zip"
        raise BadBarFile(str(path), None, expected, "a different path")
    return path.parent.name.upper(), _day(str(path), None, match.group(1)), resolution_s


def _check_inner_name(path: Path, origin: str, symbol: str, day: date, resolution_s: int) -> None:
    # Lean repeats the path inside the zip; a mismatch means a misplaced or quote file.
    match = _INNER_NAME.match(origin.rsplit("!", 1)[-1])
    if match is None:
        return
    expected = f"{day:%Y%m%d}_{symbol.lower()}_{_resolution_name(resolution_s)}_trade.csv"
    if match.group(0) != expected:
        raise BadBarFile(str(path), None, f"a member named {expected}", origin)


def _resolution_name(resolution_s: int) -> str:
    return next(name for name, seconds in RESOLUTION_DIRS.items() if seconds == resolution_s)


def _check_ms(rows: Rows, ms: npt.NDArray[np.int64], resolution_s: int) -> None:
    step = resolution_s * 1000
    bad = (ms < 0) | (ms >= _MS_PER_DAY) | (ms % step != 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise BadBarFile(
            rows.origin,
            int(rows.lines[i]),
            f"milliseconds since midnight in [0, {_MS_PER_DAY}) on a whole {step} ms step",
            str(int(ms[i])),
        )


def read_lean_daily(path: Path, in_effect: LeanMap | None = None) -> ParsedFile:
    """Parse ``.../daily/<sym>.zip`` into raw daily bars.

    With ``in_effect`` (the symbol's map file), keep only days on which the map file shows the
    file's ticker in effect: Lean reuses tickers, so e.g. ``uso.zip`` starts years before USO
    listed, with an unrelated security's rows. Dropped rows are listed in the notes.
    """
    symbol = path.name.removesuffix(".zip").upper()
    origin, data = single_csv_in_zip(path)
    table = read_table(origin, data, _DAILY)
    seconds = table.times("date", "%Y%m%d %H:%M")
    rows = ohlcv_rows(table, _PRICES, seconds * NS_PER_S).scaled(DECI_CENTS_PER_DOLLAR)
    off_midnight = rows.stamp_ns % NS_PER_DAY != 0
    if off_midnight.any():
        i = int(np.argmax(off_midnight))
        found = table.cell("date", i)
        raise BadBarFile(origin, int(rows.lines[i]), "a daily stamp at 00:00", found)
    check_rows(rows, show_naive)
    rows, notes = _in_effect(rows, symbol, in_effect, path)
    if len(rows) == 0:
        return ParsedFile("lean-daily", notes=notes)
    series = daily_bars(symbol, rows, source=SOURCE, basis=Basis.RAW)
    return ParsedFile("lean-daily", daily=(series,), notes=notes)


def _in_effect(
    rows: Rows, symbol: str, in_effect: LeanMap | None, path: Path
) -> tuple[Rows, tuple[str, ...]]:
    if in_effect is None:
        return rows, ()
    keep = in_effect.mask(symbol, (rows.stamp_ns // NS_PER_DAY).astype("datetime64[D]"))
    if keep.all():
        return rows, ()
    note = (
        f"{path}: dropped {int((~keep).sum())} of {len(rows)} rows on days when {symbol} "
        f"named another security (per {in_effect.origin})"
    )
    return rows.take(keep), (note,)


@dataclass(frozen=True)
class LeanMap:
    """A Lean map file: row k says ticker ``tickers[k]`` was in effect up to ``days[k]``.

    The first row's date is the security's first day; each later row covers the days after the
    previous row's date up to its own.
    """

    origin: str
    days: npt.NDArray[np.datetime64]
    tickers: tuple[str, ...]

    def mask(self, symbol: str, days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.bool_]:
        """True for each day on which ``symbol`` was the ticker in effect."""
        at = np.searchsorted(self.days, days, side="left")
        inside = (days >= self.days[0]) & (at < len(self.days))
        named = np.array([t == symbol.lower() for t in self.tickers] + [False], dtype=np.bool_)
        return np.asarray(inside & named[np.minimum(at, len(self.tickers))], dtype=np.bool_)


def read_lean_map(path: Path) -> LeanMap:
    """Parse a Lean ``map_files/<sym>.csv`` (``YYYYMMDD,ticker[,exchange]`` rows, by date)."""
    origin = str(path)
    lines = file_bytes(path).decode("utf-8", errors="replace").splitlines()
    days: list[date] = []
    tickers: list[str] = []
    for number, line in enumerate(lines, start=1):
        fields = line.strip().split(",")
        if len(fields) not in (2, 3):
            raise BadBarFile(origin, number, "2 or 3 comma-separated fields", str(len(fields)))
        day = _day(origin, number, fields[0])
        if days and day <= days[-1]:
            raise BadBarFile(origin, number, f"a date after {days[-1]}", str(day))
        days.append(day)
        tickers.append(fields[1].strip().lower())
    if not days:
        raise BadBarFile(origin, None, "at least one map row", "none")
    return LeanMap(origin, np.array(days, dtype="datetime64[D]"), tuple(tickers))


def read_lean_splits(path: Path, symbol: str) -> tuple[Split, ...]:
    """The splits in a Lean ``factor_files/<sym>.csv`` (``date,price_factor,split_factor,ref``).

    A row's factors hold up to and including its date; where the next row's split factor
    differs, a split took effect after that date, with ratio ``next / this``.
    """
    origin = str(path)
    lines = file_bytes(path).decode("utf-8", errors="replace").splitlines()
    rows: list[tuple[date, float]] = []
    for number, line in enumerate(lines, start=1):
        fields = line.strip().split(",")
        if len(fields) != 4:
            raise BadBarFile(origin, number, "4 comma-separated fields", str(len(fields)))
        day = _day(origin, number, fields[0])
        try:
            factor = float(fields[2])
        except ValueError:
            raise BadBarFile(origin, number, "a numeric split factor", repr(fields[2])) from None
        if not factor > 0 or (rows and day <= rows[-1][0]):
            raise BadBarFile(origin, number, "a later date and a split factor above 0", line)
        rows.append((day, factor))
    return tuple(
        Split(symbol.upper(), day, _split_ratio(later / factor))
        for (day, factor), (_, later) in pairwise(rows)
        if abs(later / factor - 1) > 1e-6
    )


def _split_ratio(raw: float) -> float:
    """Snap a ratio of rounded factors to the split it stands for (1.999996 is 2:1): real
    splits are small fractions such as 2, 3/2, 7 or 1/10."""
    nearest = Fraction(raw).limit_denominator(20)
    return float(nearest) if abs(float(nearest) / raw - 1) < 1e-4 else round(raw, 6)


def _day(origin: str, line: int | None, text: str) -> date:
    try:
        return datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        raise BadBarFile(origin, line, "a date YYYYMMDD", repr(text)) from None
