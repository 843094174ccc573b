"""The bundled demo data as a bar source: real where the package has it, drawn where not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np

from openbell.adapters.bars.store import BarStore
from openbell.bars.frame import F64, Basis, DailyBars, DayBars, Split, to_ns
from openbell.bars.synthetic import DailyFacts, synthetic_day
from openbell.domain.errors import NotATradingDay
from openbell.ports import Calendar

DEMO_FIRST_DAY = date(2016, 4, 15)
DEMO_LAST_DAY = date(2016, 5, 13)


def demo_root() -> Path:
    """Where the package keeps the demo dataset."""
    return Path(str(resources.files("openbell") / "data" / "demo"))


class DemoBars:
    """The BarSource port over the demo dataset.

    Daily bars are real (IEX, split-adjusted, equal to raw in this window). Minute bars are
    real for AAPL and MSFT, with a drawn pre-market; every other symbol-day is drawn from its
    real daily bar and marked synthetic.
    """

    def __init__(self, store: BarStore, calendar: Calendar, seed: int = 0) -> None:
        self._store = store
        self._calendar = calendar
        self._seed = seed

    def symbols(self) -> list[str]:
        return sorted({row.symbol for row in self._store.inventory() if row.kind == "daily"})

    def daily(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> DailyBars | None:
        return self._store.daily(symbol, start, end, basis=Basis.SPLIT_ADJUSTED)

    def splits(self, symbol: str) -> Sequence[Split]:
        """None: the demo's daily bars are already split-adjusted."""
        return ()

    def day(self, symbol: str, day: date, resolution_s: int = 60) -> DayBars | None:
        if resolution_s != 60:
            return None
        facts = self._facts(symbol, day)
        if facts is None:
            return None
        try:
            session = self._calendar.session(day)
        except NotATradingDay:
            return None
        drawn = synthetic_day(
            symbol,
            day,
            session.open,
            session.close,
            facts,
            seed=self._seed,
            basis=Basis.SPLIT_ADJUSTED,
        )
        real = self._store.day(symbol, day)
        if real is None:
            return drawn
        return _with_drawn_premarket(real, drawn, session.open)

    def _facts(self, symbol: str, day: date) -> DailyFacts | None:
        bars = self.daily(symbol, day - timedelta(days=10), day)
        if bars is None or len(bars) < 2 or bars.row(day) != len(bars) - 1:
            return None
        i = len(bars) - 1
        return DailyFacts(
            float(bars.open[i]),
            float(bars.high[i]),
            float(bars.low[i]),
            float(bars.close[i]),
            float(bars.volume[i]),
            float(bars.close[i - 1]),
        )


def _with_drawn_premarket(real: DayBars, drawn: DayBars, session_open: datetime) -> DayBars:
    """The real regular session, preceded by the drawn pre-market (before its first bar)."""
    cut = int(np.searchsorted(drawn.start_ns, to_ns(session_open), side="left"))
    first_real = int(real.start_ns[0]) if len(real) else to_ns(session_open)
    keep = drawn.start_ns[:cut] < first_real

    def joined(pre: F64, rth: F64) -> F64:
        return np.concatenate([pre[:cut][keep], rth])

    return DayBars(
        real.symbol,
        real.trading_day,
        60,
        np.concatenate([drawn.start_ns[:cut][keep], real.start_ns]),
        joined(drawn.open, real.open),
        joined(drawn.high, real.high),
        joined(drawn.low, real.low),
        joined(drawn.close, real.close),
        joined(drawn.volume, real.volume),
        basis=real.basis,
        synthetic=False,
        source=f"{real.source}; pre-market drawn ({drawn.source})",
    )
