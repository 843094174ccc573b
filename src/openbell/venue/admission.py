"""How the venue classifies an arriving order: which session it works in, and what IB says.

Pure functions of the order, the loaded day and the instant (ns); the engine applies them in
:meth:`~openbell.venue.engine.MatchingEngine.submit`. The rules are the engine module's
"Sessions" and "Opening auction" paragraphs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from openbell.bars.frame import from_ns
from openbell.domain.sessions import NEW_YORK
from openbell.ports import Calendar
from openbell.venue.day import TradingDay
from openbell.venue.orders import Tif, VenueOrder, VenueOrderType, VenueStatus
from openbell.venue.state import Working

__all__ = [
    "ignores_outside_rth",
    "ioc_bar",
    "next_start",
    "opg_problem",
    "parent_problem",
    "works_today",
]

_NS = 1_000_000_000


def ignores_outside_rth(order: VenueOrder) -> bool:
    """True if the order asks for outside RTH where IB ignores it (MKT, OPG, IOC): 2109."""
    return order.outside_rth and (
        order.order_type is VenueOrderType.MKT or order.tif in (Tif.OPG, Tif.IOC)
    )


def parent_problem(order: VenueOrder, orders: Mapping[int, Working]) -> str | None:
    """Why a child cannot be accepted: its parent is unknown (to its client) or ended unfilled."""
    if order.parent_id is None:
        return None
    parent = orders.get(order.parent_id)
    if parent is None or parent.order.client_id != order.client_id:
        return f"Parent order {order.parent_id} is not found."
    if parent.status is VenueStatus.CANCELLED and parent.filled == 0:
        return f"Parent order {order.parent_id} is no longer working."
    return None


def opg_problem(order: VenueOrder, day: TradingDay, now_ns: int, reopen: timedelta) -> str | None:
    """Why an OPG order is too late: after the cutoff, or at the close until ``reopen`` later."""
    if order.tif is not Tif.OPG or now_ns < day.cutoff_ns:
        return None
    if now_ns < day.close_ns:
        cutoff = from_ns(day.cutoff_ns)
        return f"The opening auction cutoff {cutoff:%H:%M:%S} US/Eastern has passed."
    if now_ns < day.close_ns + int(reopen.total_seconds() * _NS):
        return "Exchange is closed."
    return None


def works_today(order: VenueOrder, day: TradingDay, now_ns: int, extended: bool) -> bool:
    """True if the order works in the loaded session; else it waits for the next one."""
    if order.tif is Tif.OPG:
        return now_ns < day.cutoff_ns
    return now_ns < day.window(extended)[1]


def ioc_bar(w: Working, day: TradingDay, now_ns: int) -> int | None:
    """The one bar an IOC may use: the first one starting within a bar length from now."""
    book = day.symbols.get(w.order.symbol)
    start, end = day.window(w.extended)
    if book is None or w.day is None or not start <= now_ns < end:
        return None
    lo, hi = book.ext if w.extended else book.rth
    index = max(lo, book.index_at_or_after(now_ns))
    if index >= hi or book.start_ns(index) >= now_ns + book.bars.resolution_s * _NS:
        return None
    return index


def next_start(
    day: TradingDay, extended: bool, calendar: Calendar | None, premarket_start: time
) -> datetime:
    """When an order parked past today's session goes live: the next session's start.

    Without a calendar the next session is assumed to be the next weekday, opening at the
    same wall-clock time as today's.
    """
    today = day.session.trading_day
    if calendar is not None:
        following = calendar.next_session(today)
        next_day, opens = following.trading_day, following.open
    else:
        next_day = _next_weekday(today)
        wall = day.session.open.astimezone(NEW_YORK).time()
        opens = datetime.combine(next_day, wall, tzinfo=NEW_YORK)
    if extended:
        return datetime.combine(next_day, premarket_start, tzinfo=NEW_YORK)
    return opens


def _next_weekday(day: date) -> date:
    following = day + timedelta(days=1)
    while following.weekday() >= 5:
        following += timedelta(days=1)
    return following
