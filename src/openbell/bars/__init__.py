"""Columnar market bars on numpy: what the bar store returns and the venue replays.

Conventions, whatever the source: each bar is stamped with its **start**, as UTC epoch
nanoseconds (``start_ns``), and covers ``resolution_s`` seconds. Prices are dollars as float64
in the basis named by ``basis`` (raw trade prices or split-adjusted; the two never mix). A day
holds whatever the source had from 04:00 to 20:00 America/New_York; minutes without trades
have no bar.
"""

from openbell.bars.frame import Basis, DailyBars, DayBars, Split, from_ns, to_ns
from openbell.domain.sessions import NEW_YORK

__all__ = ["NEW_YORK", "Basis", "DailyBars", "DayBars", "Split", "from_ns", "to_ns"]
