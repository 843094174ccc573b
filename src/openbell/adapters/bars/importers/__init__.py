"""Bar file importers: one module per source format, each a pure parse into bar containers.

Every ``read_*`` function parses one file and returns a :class:`ParsedFile` (bars start-stamped
in UTC epoch ns, dollars, the right :class:`~openbell.bars.Basis`) without touching a store;
:func:`import_path` detects formats and writes into a :class:`~openbell.adapters.bars.BarStore`.
"""

from openbell.adapters.bars.importers.base import BadBarFile, ParsedFile
from openbell.adapters.bars.importers.dispatch import (
    Format,
    ImportReport,
    Skip,
    SkippedFile,
    detect,
    import_path,
    parse_file,
)
from openbell.adapters.bars.importers.lean import (
    LeanMap,
    read_lean_daily,
    read_lean_map,
    read_lean_trade,
)
from openbell.adapters.bars.importers.mplfinance import (
    read_mplfinance_daily,
    read_mplfinance_minutes,
)
from openbell.adapters.bars.importers.ninjatrader import read_ninjatrader_minutes
from openbell.adapters.bars.importers.quandl import read_quandl_archive, read_quandl_wiki_csv
from openbell.adapters.bars.importers.react_stockcharts import read_react_stockcharts
from openbell.adapters.bars.importers.sp500_5yr import read_sp500_5yr

__all__ = [
    "BadBarFile",
    "Format",
    "ImportReport",
    "LeanMap",
    "ParsedFile",
    "Skip",
    "SkippedFile",
    "detect",
    "import_path",
    "parse_file",
    "read_lean_daily",
    "read_lean_map",
    "read_lean_trade",
    "read_mplfinance_daily",
    "read_mplfinance_minutes",
    "read_ninjatrader_minutes",
    "read_quandl_archive",
    "read_quandl_wiki_csv",
    "read_react_stockcharts",
    "read_sp500_5yr",
]
