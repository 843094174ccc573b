"""Quandl WIKI daily prices, in the two layouts shipped here.

* ``stocks.csv.gz`` (bokeh sample data): ``Ticker,Date,Open,High,Low,Close,Volume,Adj Close``.
* ``QUANDL_ARCHIVE.zip`` (zipline test data): one CSV, ``ticker,date,open,high,low,close,
  volume,ex-dividend,split_ratio,adj_open,...,adj_volume``.

Only the raw OHLCV columns are imported, as :attr:`Basis.RAW`. Quandl's ``adj_*``/``Adj Close``
columns are adjusted for splits **and** dividends, so they are neither raw nor split-adjusted and
are left out rather than mislabelled. Tickers are translated to openbell's spelling: Quandl's
``BRK_A`` becomes ``BRK.A``, and WIKI ``GOOG`` rows before 2014-04-03 (the pre-share-class-split
Google, whose history today's GOOGL carries) are stored as ``GOOGL``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openbell.adapters.bars.importers._bars import (
    NS_PER_S,
    Rows,
    check_rows,
    daily_bars,
    ohlcv_rows,
    show_naive,
)
from openbell.adapters.bars.importers._table import (
    TableSpec,
    TextTable,
    file_bytes,
    read_table,
    single_csv_in_zip,
)
from openbell.adapters.bars.importers.base import ParsedFile
from openbell.bars import Basis, DailyBars

SOURCE = "quandl-wiki"
CSV_SPEC = TableSpec(
    ("Ticker", "Date", "Open", "High", "Low", "Close", "Volume", "Adj Close"), has_header=True
)
ARCHIVE_SPEC = TableSpec(
    (
        "ticker",
        "date",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "ex-dividend",
        "split_ratio",
        "adj_open",
        "adj_high",
        "adj_low",
        "adj_close",
        "adj_volume",
    ),
    has_header=True,
)
_GOOGL_UNTIL = np.datetime64("2014-04-03", "ns").astype(np.int64)


def read_quandl_wiki_csv(path: Path) -> ParsedFile:
    """Parse a bokeh-style WIKI CSV (plain or ``.gz``) into one raw daily series per ticker."""
    table = read_table(str(path), file_bytes(path), CSV_SPEC)
    return _raw_series(table, ("Ticker", "Date", "Open", "High", "Low", "Close", "Volume"))


def read_quandl_archive(path: Path) -> ParsedFile:
    """Parse a zipline-style WIKI archive zip into one raw daily series per ticker."""
    origin, data = single_csv_in_zip(path)
    table = read_table(origin, data, ARCHIVE_SPEC)
    parsed = _raw_series(table, ("ticker", "date", "open", "high", "low", "close", "volume"))
    return ParsedFile("quandl-archive", daily=parsed.daily, notes=parsed.notes)


def _raw_series(table: TextTable, names: tuple[str, ...]) -> ParsedFile:
    ticker_col, date_col, *ohlcv = names
    series: list[DailyBars] = []
    notes: list[str] = []
    for ticker, part in table.groups(ticker_col):
        seconds = part.times(date_col, "%Y-%m-%d")
        o, h, lo, c, v = ohlcv
        rows = ohlcv_rows(part, (o, h, lo, c, v), seconds * NS_PER_S)
        check_rows(rows, show_naive)
        for symbol, piece in _by_symbol(ticker, rows):
            if symbol != ticker.replace("_", "."):
                notes.append(f"{table.origin}: {len(piece)} {ticker} rows stored as {symbol}")
            series.append(daily_bars(symbol, piece, source=SOURCE, basis=Basis.RAW))
    return ParsedFile("quandl-wiki-csv", daily=tuple(series), notes=tuple(notes))


def _by_symbol(ticker: str, rows: Rows) -> list[tuple[str, Rows]]:
    symbol = ticker.replace("_", ".").upper()
    if symbol != "GOOG":
        return [(symbol, rows)]
    early = rows.stamp_ns < _GOOGL_UNTIL
    pieces = [("GOOGL", rows.take(early)), ("GOOG", rows.take(~early))]
    return [(name, piece) for name, piece in pieces if len(piece)]
