"""mplfinance example data: the S&P 500 index, ``SP500_NOV2019_IDay.csv`` and ``..._Hist.csv``.

* IDay: header ``Date,Open,Close,High,Low,Volume`` (**Close before High**), naive New York
  ``M/D/YYYY H:MM`` stamps, 1-minute, volume always 0 (an index has none).
* Hist: header ``Date,Open,High,Low,Close,Volume``, ``M/D/YYYY`` dates, daily.

Decision: IDay stamps mark the bar **start**. Evidence: on all four days the 09:30 row's open
equals the Hist daily open (3080.80, 3075.10, 3087.02, 3081.25), and 11/8 has exactly the 390
rows 09:30...15:59. The 16:00 rows on 11/5-11/7 are tiny post-close prints; they are kept as the
16:00 bar, outside the regular session, as the source has them. The index is stored under the
symbol ``SPX``; its values have no split basis, so they are stored as raw.
"""

from __future__ import annotations

from pathlib import Path

from openbell.adapters.bars.importers._bars import (
    NS_PER_S,
    check_rows,
    daily_bars,
    new_york_to_utc,
    ohlcv_rows,
    show_naive,
    split_days,
)
from openbell.adapters.bars.importers._table import TableSpec, file_bytes, read_table
from openbell.adapters.bars.importers.base import ParsedFile
from openbell.bars import Basis

SOURCE = "mplfinance"
INDEX_SYMBOL = "SPX"
_OHLCV = ("Open", "High", "Low", "Close", "Volume")
MINUTE_SPEC = TableSpec(("Date", "Open", "Close", "High", "Low", "Volume"), has_header=True)
DAILY_SPEC = TableSpec(("Date", *_OHLCV), has_header=True)


def read_mplfinance_minutes(path: Path, symbol: str = INDEX_SYMBOL) -> ParsedFile:
    """Parse the IDay file into start-stamped one-minute symbol-days (raw index values)."""
    table = read_table(str(path), file_bytes(path), MINUTE_SPEC)
    seconds = table.times("Date", "%m/%d/%Y %H:%M")
    rows = ohlcv_rows(table, _OHLCV, seconds * NS_PER_S)
    check_rows(rows, show_naive)
    days = split_days(symbol, 60, new_york_to_utc(rows), source=SOURCE, basis=Basis.RAW)
    return ParsedFile("mplfinance-minute", days=days)


def read_mplfinance_daily(path: Path, symbol: str = INDEX_SYMBOL) -> ParsedFile:
    """Parse the Hist file into one raw daily series."""
    table = read_table(str(path), file_bytes(path), DAILY_SPEC)
    seconds = table.times("Date", "%m/%d/%Y")
    rows = ohlcv_rows(table, _OHLCV, seconds * NS_PER_S)
    check_rows(rows, show_naive)
    series = daily_bars(symbol, rows, source=SOURCE, basis=Basis.RAW)
    return ParsedFile("mplfinance-daily", daily=(series,))
