"""Vectorised search for the first bar at which a working order can fill.

Each function scans a half-open range of bar indices ``[lo, hi)`` with one numpy expression
and returns a :class:`Hit` for the first bar that can fill (or trigger) the order, or None.
The engine therefore jumps straight from event to event instead of walking bars in Python.

Bar-level fill rules (the engine's module docstring explains why):

* A level is *reached* by a bar with volume > 0 whose range touches it: ``low <= level`` for a
  level reached from above (a buy limit, a sell stop), ``high >= level`` from below. With
  ``strict`` (limits only) the range must trade *through* the limit, unless the bar opens at or
  through it.
* If the bar's open is already at or through the level, the fill is decided by the open
  (``at_open``) and priced at the open: price improvement for a limit, the worse gap price for
  a stop. Otherwise the level was crossed inside the bar and the reference price is the level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openbell.bars.frame import DayBars
from openbell.domain.enums import Side
from openbell.venue.slippage import FillKind

__all__ = [
    "Hit",
    "first_touch",
    "first_traded",
    "limit_hit",
    "market_hit",
    "stop_hit",
    "stop_limit_hit",
]


@dataclass(frozen=True, slots=True)
class Hit:
    """Where and how an order meets the market.

    ``index`` is the bar; ``at_open`` says the bar's open decides it (so it happens at the
    bar's start), else it happens inside the bar (known at the bar's end). ``price`` is the
    reference price before slippage; None means a STP LMT that only triggers in this bar.
    ``level``/``down`` name the touch that decided it (for replaying 1-second bars) and
    ``stop_first`` marks a stop trigger, which the intrabar rule orders before limits.
    """

    index: int
    at_open: bool
    price: float | None
    kind: FillKind
    level: float
    down: bool
    stop_first: bool


def _first(mask: npt.NDArray[np.bool_], lo: int) -> int | None:
    if mask.size == 0:
        return None
    at = int(mask.argmax())
    return lo + at if mask[at] else None


def first_traded(bars: DayBars, lo: int, hi: int) -> int | None:
    """The first bar in ``[lo, hi)`` with volume above 0."""
    return _first(bars.volume[lo:hi] > 0, lo)


def first_touch(
    bars: DayBars, lo: int, hi: int, level: float, *, down: bool, strict: bool = False
) -> int | None:
    """The first bar in ``[lo, hi)`` that reaches ``level`` (from above if ``down``)."""
    span = slice(lo, hi)
    if down:
        reach = bars.low[span] < level if strict else bars.low[span] <= level
        if strict:
            reach |= bars.open[span] <= level
    else:
        reach = bars.high[span] > level if strict else bars.high[span] >= level
        if strict:
            reach |= bars.open[span] >= level
    return _first(reach & (bars.volume[span] > 0), lo)


def _touch_price(bars: DayBars, index: int, level: float, down: bool) -> tuple[float, bool]:
    """(reference price, decided at the open) for a bar known to reach ``level``."""
    opening = float(bars.open[index])
    through = opening <= level if down else opening >= level
    return (opening, True) if through else (level, False)


def market_hit(bars: DayBars, lo: int, hi: int, kind: FillKind = FillKind.MARKET) -> Hit | None:
    """A market order fills at the open of the first traded bar."""
    index = first_traded(bars, lo, hi)
    if index is None:
        return None
    opening = float(bars.open[index])
    return Hit(index, True, opening, kind, opening, True, False)


def limit_hit(
    bars: DayBars, lo: int, hi: int, action: Side, limit: float, *, strict: bool = False
) -> Hit | None:
    """A limit fills at the limit, or at a better open if the bar opens through it."""
    down = action is Side.BUY
    index = first_touch(bars, lo, hi, limit, down=down, strict=strict)
    if index is None:
        return None
    price, at_open = _touch_price(bars, index, limit, down)
    return Hit(index, at_open, price, FillKind.LIMIT, limit, down, False)


def stop_hit(bars: DayBars, lo: int, hi: int, action: Side, stop: float) -> Hit | None:
    """A stop triggers on a touch and fills at the stop, or at the worse open on a gap."""
    down = action is Side.SELL
    index = first_touch(bars, lo, hi, stop, down=down)
    if index is None:
        return None
    price, at_open = _touch_price(bars, index, stop, down)
    return Hit(index, at_open, price, FillKind.MARKET, stop, down, not at_open)


def stop_limit_hit(
    bars: DayBars,
    lo: int,
    hi: int,
    action: Side,
    stop: float,
    limit: float,
    *,
    strict: bool = False,
) -> Hit | None:
    """A stop limit triggers like a stop, then works as a limit from the trigger point.

    It fills at the trigger price if that is within the limit. Triggered by the bar's open, it
    may still fill at the limit later in the same bar; triggered inside the bar, the rest of the
    bar's path is unknown, so it waits for the next bar (a Hit with ``price=None``).
    """
    down = action is Side.SELL
    index = first_touch(bars, lo, hi, stop, down=down)
    if index is None:
        return None
    trigger, at_open = _touch_price(bars, index, stop, down)
    if (trigger >= limit) if down else (trigger <= limit):
        return Hit(index, at_open, trigger, FillKind.LIMIT, stop, down, not at_open)
    later = first_touch(bars, index, index + 1, limit, down=not down, strict=strict)
    if at_open and later is not None:
        return Hit(index, False, limit, FillKind.LIMIT, limit, not down, False)
    return Hit(index, at_open, None, FillKind.LIMIT, stop, down, not at_open)
