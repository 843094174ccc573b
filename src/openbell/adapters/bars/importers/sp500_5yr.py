"""The S&P 500 five-year set (IEX via pandas-datareader): ``individual_stocks_5yr.zip``.

The zip holds one CSV per constituent, ``individual_stocks_5yr/<SYM>_data.csv``, with the
header ``date,open,high,low,close,volume,Name`` and ``YYYY-MM-DD`` dates. Prices are
**split-adjusted only** (AAPL 2013-02-08 closes 67.8542 = 474.98 / 7), so every series is
:attr:`Basis.SPLIT_ADJUSTED` and can never be merged into a raw one.

Known vendor faults are dropped and listed in the notes rather than refusing the whole set:
27 blank price cells in 11 rows, and a dozen rows whose high is below the open or close (or low
above). Anything else malformed (text in a number, a wrong field count, days out of order) is
refused with the member and line.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from openbell.adapters.bars.importers._bars import (
    NS_PER_S,
    check_rows,
    daily_bars,
    ohlcv_rows,
    show_naive,
)
from openbell.adapters.bars.importers._table import (
    I64,
    TableSpec,
    TextTable,
    read_table,
    zip_csv_names,
    zip_members,
)
from openbell.adapters.bars.importers.base import BadBarFile, ParsedFile
from openbell.bars import Basis, DailyBars

SOURCE = "sp500_5yr"
FORMAT = "sp500-5yr"
SPEC = TableSpec(("date", "open", "high", "low", "close", "volume", "Name"), has_header=True)
MEMBER = re.compile(r"(?:^|/)([A-Z][A-Z0-9.\-]*)_data\.csv$")
_OHLCV = ("open", "high", "low", "close", "volume")
_TOLERANCE = 1e-9


def sp500_members(path: Path) -> dict[str, str]:
    """Symbol -> member name for every ``<SYM>_data.csv`` in the zip at ``path``."""
    members = {}
    for name in zip_csv_names(path):
        match = MEMBER.search(name)
        if match:
            members[match.group(1)] = name
    return members


def read_sp500_5yr(path: Path, symbols: Collection[str] | None = None) -> ParsedFile:
    """Parse the zip into one split-adjusted daily series per symbol (only ``symbols`` if set)."""
    members = sp500_members(path)
    if not members:
        raise BadBarFile(str(path), None, "members named <SYMBOL>_data.csv", "none")
    wanted = sorted(members if symbols is None else set(symbols) & set(members))
    series: list[DailyBars] = []
    notes: list[str] = []
    contents = zip_members(path, [members[symbol] for symbol in wanted])
    for symbol, (origin, data) in zip(wanted, contents, strict=True):
        bars, note = _read_member(symbol, read_table(origin, data, SPEC))
        series.append(bars)
        notes.extend(note)
    return ParsedFile(FORMAT, daily=tuple(series), notes=tuple(notes))


def _read_member(symbol: str, table: TextTable) -> tuple[DailyBars, list[str]]:
    blank = np.zeros(len(table), dtype=np.bool_)
    for name in _OHLCV:
        blank |= table.blank(name)
    kept = table.take(~blank)
    _check_names(symbol, kept)
    seconds = kept.times("date", "%Y-%m-%d")
    rows = ohlcv_rows(kept, _OHLCV, seconds * NS_PER_S)
    disorder = (rows.high < np.maximum(rows.open, rows.close) - _TOLERANCE) | (
        rows.low > np.minimum(rows.open, rows.close) + _TOLERANCE
    )
    rows = rows.take(~disorder)
    check_rows(rows, show_naive)
    notes = _note(table.origin, "with a blank price", table.lines[blank])
    notes += _note(table.origin, "with high below open/close or low above", kept.lines[disorder])
    return daily_bars(symbol, rows, source=SOURCE, basis=Basis.SPLIT_ADJUSTED), notes


def _check_names(symbol: str, table: TextTable) -> None:
    wrong = np.asarray(pc.not_equal(table.table.column("Name"), symbol).to_numpy(), dtype=np.bool_)
    if wrong.any():
        i = int(np.argmax(wrong))
        raise BadBarFile(
            table.origin, int(table.lines[i]), f"Name {symbol}", repr(table.cell("Name", i))
        )


def _note(origin: str, why: str, lines: I64) -> list[str]:
    if len(lines) == 0:
        return []
    shown = ", ".join(str(int(n)) for n in lines)
    return [f"{origin}: dropped {len(lines)} row(s) {why} (line {shown})"]
