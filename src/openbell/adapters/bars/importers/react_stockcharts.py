"""react-stockcharts intraday samples: ``<SYM>_INTRA_DAY.tsv`` (1-minute, regular session).

Format: tab-separated with the header ``date open high low close volume``; ``date`` is epoch
milliseconds UTC; prices in dollars, not adjusted for later splits.

Decision: the stamps mark the bar **end**, and the 09:30 row is the opening print. Evidence
from the files (AAPL and MSFT, 21 sessions, 391 rows each, 09:30...16:00 New York):

* The 16:00 row closes at the official close (AAPL 2016-04-26: 104.35, the close the README
  quotes; 2016-04-27: 97.82), while its open continues from the 15:59 row's close (97.6501 after
  97.65). A bar *starting* at 16:00 would open at the closing-cross price; this one holds the
  last minute of trading ending in the cross, so it is the 15:59-16:00 bar.
* Read as end stamps, the rows 09:31...16:00 are exactly the 390 minutes of the session.
* The 09:30 row holds the opening cross (AAPL 2016-04-27 opens 96.00, the gap-down print the
  README names), with no pre-market rows before it.

So each row is restamped to its start (stamp minus one minute) except the 09:30 row, whose
trades happened at 09:30:00: it is folded into the 09:30 bar (its open becomes the bar's open,
highs, lows and volumes are combined). The result is 390 one-minute bars per session, starting
09:30...15:59, and no volume is lost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openbell.adapters.bars.importers._bars import (
    NS_PER_DAY,
    NS_PER_S,
    check_aligned,
    check_rows,
    fold_repeated_starts,
    new_york_wall_ns,
    ohlcv_rows,
    show_utc,
    split_days,
)
from openbell.adapters.bars.importers._table import TableSpec, file_bytes, read_table
from openbell.adapters.bars.importers.base import ParsedFile
from openbell.bars import Basis

SOURCE = "react-stockcharts"
FORMAT = "react-stockcharts-minute"
_PRICES = ("open", "high", "low", "close", "volume")
_SPEC = TableSpec(("date", *_PRICES), delimiter="\t", has_header=True)
_MINUTE_NS = 60 * NS_PER_S
_OPEN_NS = (9 * 3600 + 30 * 60) * NS_PER_S


def react_stockcharts_symbol(path: Path) -> str:
    """The ticker before the first underscore of ``<SYM>_INTRA_DAY.tsv``."""
    return path.name.split("_", 1)[0].upper()


def read_react_stockcharts(path: Path, symbol: str | None = None) -> ParsedFile:
    """Parse a react-stockcharts TSV into raw one-minute symbol-days, start-stamped (see module)."""
    ticker = symbol or react_stockcharts_symbol(path)
    table = read_table(str(path), file_bytes(path), _SPEC)
    rows = ohlcv_rows(table, _PRICES, table.epoch_ms("date") * 1_000_000)
    check_aligned(rows, _MINUTE_NS, "a stamp on a whole minute")
    check_rows(rows, show_utc)
    opening = new_york_wall_ns(rows.stamp_ns) % NS_PER_DAY == _OPEN_NS
    starts = np.where(opening, rows.stamp_ns, rows.stamp_ns - _MINUTE_NS)
    folded = fold_repeated_starts(rows.with_stamps(starts))
    return ParsedFile(FORMAT, days=split_days(ticker, 60, folded, source=SOURCE, basis=Basis.RAW))
