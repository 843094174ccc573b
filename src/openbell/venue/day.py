"""One loaded trading day: the session's boundaries and each symbol's bars with index bounds.

All instants are UTC epoch nanoseconds, like the bars. The regular session comes from the
calendar's :class:`Session` (so early closes work); extended hours run from ``premarket_start``
(04:00 New York) to ``postmarket_end`` (20:00), but never more than ``after_hours`` past the
close (4 h: a 13:00 early close ends after-hours trading at 17:00).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import numpy as np

from openbell.bars.frame import DayBars, to_ns
from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK, Session
from openbell.venue.triggers import Hit, first_touch, first_traded

__all__ = ["DayHours", "SymbolDay", "TradingDay"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class DayHours:
    """How a session's extended hours and auction cutoff are derived from it."""

    premarket_start: time = time(4, 0)
    postmarket_end: time = time(20, 0)
    after_hours: timedelta = timedelta(hours=4)
    opg_cutoff: timedelta = timedelta(minutes=2)

    def extended(self, session: Session) -> tuple[datetime, datetime]:
        """The session's extended hours: from the pre-market start to the post-market end
        (``after_hours`` after the close, at most ``postmarket_end``)."""
        day = session.trading_day
        pre = datetime.combine(day, self.premarket_start, tzinfo=NEW_YORK)
        post = min(
            datetime.combine(day, self.postmarket_end, tzinfo=NEW_YORK),
            session.close + self.after_hours,
        )
        return pre, post


@dataclass(frozen=True, slots=True)
class SymbolDay:
    """One symbol's bars for the day. ``rth``/``ext`` are bar index ranges ``[lo, hi)``.

    ``auction`` is the first traded bar of the regular session: its open is the opening print.
    """

    bars: DayBars
    seconds: DayBars | None
    rth: tuple[int, int]
    ext: tuple[int, int]
    auction: int | None

    def start_ns(self, index: int) -> int:
        return int(self.bars.start_ns[index])

    def end_ns(self, index: int) -> int:
        return int(self.bars.start_ns[index]) + self.bars.resolution_s * _NS

    def index_at_or_after(self, instant_ns: int) -> int:
        return int(np.searchsorted(self.bars.start_ns, instant_ns, side="left"))

    def touch_offset_s(self, hit: Hit, strict: bool) -> int | None:
        """Seconds into bar ``hit.index`` of the 1-second bar that made the touch, if known."""
        if self.seconds is None:
            return None
        starts = self.seconds.start_ns
        lo = int(np.searchsorted(starts, self.start_ns(hit.index), side="left"))
        hi = int(np.searchsorted(starts, self.end_ns(hit.index), side="left"))
        found = first_touch(self.seconds, lo, hi, hit.level, down=hit.down, strict=strict)
        if found is None:
            return None
        return (int(starts[found]) - self.start_ns(hit.index)) // _NS


@dataclass(frozen=True, slots=True)
class TradingDay:
    """The loaded day: session instants (ns) and the symbols that have bars."""

    session: Session
    pre_ns: int
    open_ns: int
    close_ns: int
    post_ns: int
    cutoff_ns: int
    symbols: Mapping[str, SymbolDay]

    @classmethod
    def build(
        cls,
        session: Session,
        bars_by_symbol: Mapping[str, DayBars],
        seconds_by_symbol: Mapping[str, DayBars] | None,
        hours: DayHours,
    ) -> TradingDay:
        """Check the bars belong to ``session`` and index the session's windows in them."""
        pre, post = hours.extended(session)
        bounds = (to_ns(pre), to_ns(session.open), to_ns(session.close), to_ns(post))
        seconds = seconds_by_symbol or {}
        symbols = {
            symbol: _symbol_day(symbol, bars, seconds.get(symbol), session, bounds)
            for symbol, bars in sorted(bars_by_symbol.items())
        }
        unknown = sorted(set(seconds) - set(symbols))
        if unknown:
            raise InvalidValue("1-second bars", "a symbol that also has bars", unknown)
        cutoff = to_ns(session.open - hours.opg_cutoff)
        return cls(session, *bounds, cutoff, symbols)

    def window(self, extended: bool) -> tuple[int, int]:
        """``[start, end)`` in ns when an order may trade: regular or extended hours."""
        return (self.pre_ns, self.post_ns) if extended else (self.open_ns, self.close_ns)


def _check(symbol: str, bars: DayBars, session: Session, what: str) -> None:
    if bars.symbol != symbol:
        raise InvalidValue(f"{what} for {symbol}", f"bars of {symbol}", bars.symbol)
    if bars.trading_day != session.trading_day:
        raise InvalidValue(f"{what} for {symbol}", str(session.trading_day), bars.trading_day)


def _symbol_day(
    symbol: str,
    bars: DayBars,
    seconds: DayBars | None,
    session: Session,
    bounds: tuple[int, int, int, int],
) -> SymbolDay:
    _check(symbol, bars, session, "bars")
    if seconds is not None:
        _check(symbol, seconds, session, "1-second bars")
        if seconds.resolution_s != 1:
            raise InvalidValue(
                f"1-second bars for {symbol}", "resolution_s 1", seconds.resolution_s
            )
    pre, rth_open, rth_close, post = (
        int(x) for x in np.searchsorted(bars.start_ns, np.array(bounds, dtype=np.int64))
    )
    auction = first_traded(bars, rth_open, rth_close)
    return SymbolDay(bars, seconds, (rth_open, rth_close), (pre, post), auction)
