"""NinjaTrader minute exports (as shipped with pyalgotrade): ``nt-<sym>-minute-*.csv``.

Format: no header, ``;``-separated ``YYYYMMDD HHMMSS;open;high;low;close;volume``, prices in
dollars, LF or CRLF line ends. Stamps are **UTC** and mark the bar **end**: ``20110309 143100``
is the bar covering 09:30-09:31 New York time (EST, before the 2011-03-13 DST switch). Each bar
is restamped to its start (end minus one minute) and the file is cut into New York days, so the
DST switch inside a file needs no special case.
"""

from __future__ import annotations

import re
from pathlib import Path

from openbell.adapters.bars.importers._bars import (
    NS_PER_S,
    check_aligned,
    check_rows,
    ohlcv_rows,
    show_utc,
    split_days,
)
from openbell.adapters.bars.importers._table import TableSpec, file_bytes, read_table
from openbell.adapters.bars.importers.base import BadBarFile, ParsedFile
from openbell.bars import Basis

SOURCE = "ninjatrader"
FORMAT = "ninjatrader-minute"
_PRICES = ("open", "high", "low", "close", "volume")
_SPEC = TableSpec(("utc_bar_end", *_PRICES), delimiter=";")
_NAME = re.compile(r"^nt-([a-z][a-z0-9.]*)-minute", re.IGNORECASE)
_MINUTE_NS = 60 * NS_PER_S


def ninjatrader_symbol(path: Path) -> str:
    """The ticker in a ``nt-<sym>-minute...`` file name; refuse any other name."""
    match = _NAME.match(path.name)
    if match is None:
        raise BadBarFile(str(path), None, "a file named nt-<symbol>-minute*.csv", path.name)
    return match.group(1).upper()


def read_ninjatrader_minutes(path: Path, symbol: str | None = None) -> ParsedFile:
    """Parse a NinjaTrader minute export into raw one-minute symbol-days, start-stamped.

    ``symbol`` defaults to the one in the file name. Days are New York calendar dates.
    """
    ticker = symbol or ninjatrader_symbol(path)
    table = read_table(str(path), file_bytes(path), _SPEC)
    end_s = table.times("utc_bar_end", "%Y%m%d %H%M%S")
    rows = ohlcv_rows(table, _PRICES, end_s * NS_PER_S)
    check_aligned(rows, _MINUTE_NS, "a bar end on a whole minute")
    check_rows(rows, show_utc)
    starts = rows.with_stamps(rows.stamp_ns - _MINUTE_NS)
    days = split_days(ticker, 60, starts, source=SOURCE, basis=Basis.RAW)
    return ParsedFile(FORMAT, days=days)
