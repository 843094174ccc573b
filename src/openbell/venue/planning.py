"""What a working order does next, and when: the engine's schedule, computed per order.

Every working order has at most one :class:`Plan` - its next step (go live, fill or trigger,
expire) and the instant it happens. Plans are ordered by a key ``(time_ns, rank, priority)``;
the rank orders what happens at one instant:

0. ``RANGE``: fills inside bars that *end* at this instant (their range is now known);
1. ``EXPIRY``: session ends (DAY orders at the close, extended DAY orders at 20:00) and ends of
   IOC bars;
2. ``CALLER``: the client's submit and cancel calls at this instant, then ``ACTIVATE``: parked
   orders going live as their session starts;
3. ``OPEN``: fills decided by the open of bars *starting* at this instant, the opening print
   included;
4. ``AFTER_AUCTION``: the unfilled remainder of OPG orders is cancelled.

Within rank ``RANGE`` the priority applies the intrabar path rule: with 1-second bars, the
second of the touch; without, stop triggers before limits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from openbell.domain.enums import Side
from openbell.domain.errors import InvariantBroken
from openbell.venue.day import SymbolDay, TradingDay
from openbell.venue.orders import Tif, VenueOrderType, VenueStatus
from openbell.venue.slippage import FillKind
from openbell.venue.state import Working
from openbell.venue.triggers import Hit, limit_hit, market_hit, stop_hit, stop_limit_hit

__all__ = [
    "ACTIVATE",
    "AFTER_AUCTION",
    "CALLER",
    "EXPIRY",
    "OPEN",
    "RANGE",
    "Plan",
    "Step",
    "desired_status",
    "next_plan",
]

RANGE, EXPIRY, CALLER, OPEN, AFTER_AUCTION = 0, 1, 2, 3, 4
ACTIVATE = CALLER


class Step(StrEnum):
    ACTIVATE = "activate"
    FILL = "fill"
    EXPIRE = "expire"


@dataclass(frozen=True, slots=True)
class Plan:
    """The next step of one order: at ``key``, do ``step`` (with ``hit`` or ``reason``)."""

    key: tuple[int, int, int]
    step: Step
    hit: Hit | None = None
    reason: str = ""


def desired_status(w: Working, day: TradingDay | None, now_ns: int) -> VenueStatus:
    """PreSubmitted while the order waits (for its session, parent, trigger or the auction)."""
    waiting = (
        w.order.tif is Tif.OPG
        or (w.order.order_type.is_stop and not w.triggered)
        or w.active_from_ns is None
        or day is None
        or w.day != day.session.trading_day
        or now_ns < day.window(w.extended)[0]
    )
    return VenueStatus.PRE_SUBMITTED if waiting else VenueStatus.SUBMITTED


def next_plan(
    w: Working, day: TradingDay, now_ns: int, fillable: int, *, strict: bool
) -> Plan | None:
    """The order's earliest next step on ``day``, or None if nothing will happen today.

    ``fillable`` is how many shares may fill now (a bracket child may not outgrow its parent).
    """
    if w.status.is_terminal or w.day != day.session.trading_day:
        return None
    book = day.symbols.get(w.order.symbol)
    plans = (
        _activation(w, day, now_ns),
        _fill(w, day, book, strict, now_ns) if fillable > 0 and book is not None else None,
        _expiry(w, day, book),
    )
    plan = min((p for p in plans if p is not None), key=lambda p: p.key, default=None)
    if plan is not None and plan.key[0] < now_ns:  # an expiry already due: end it now
        plan = replace(plan, key=(now_ns, EXPIRY, 0))
    return plan


def _activation(w: Working, day: TradingDay, now_ns: int) -> Plan | None:
    start = day.window(w.extended)[0]
    if w.status is not VenueStatus.PRE_SUBMITTED or start <= now_ns:
        return None
    if desired_status(w, day, start) is not VenueStatus.SUBMITTED:
        return None
    return Plan((start, ACTIVATE, 0), Step.ACTIVATE)


def _fill(w: Working, day: TradingDay, book: SymbolDay, strict: bool, now_ns: int) -> Plan | None:
    if w.active_from_ns is None:
        return None
    if w.order.tif is Tif.OPG:
        return _auction(w, book)
    lo, hi = book.ext if w.extended else book.rth
    lo = max(lo, w.cursor, book.index_at_or_after(w.active_from_ns))
    if w.ioc_index is not None:
        lo, hi = max(lo, w.ioc_index), min(hi, w.ioc_index + 1)
    hit = _hit(w, book, lo, hi, strict)
    if hit is not None and _happens_at(book, hit) < now_ns:
        # The order had nothing it could fill while those bars traded (a child waiting for
        # more of its parent's fills): only bars from now on count.
        hit = _hit(w, book, max(lo, book.index_at_or_after(now_ns)), hi, strict)
    if hit is None:
        return None
    if hit.at_open:
        if _joins_auction(w, day, book, hit):
            hit = replace(hit, kind=FillKind.AUCTION)
        return Plan((book.start_ns(hit.index), OPEN, 0), Step.FILL, hit)
    second = book.touch_offset_s(hit, strict)
    when = book.bars.resolution_s if second is None else second
    priority = 2 * when + (0 if hit.stop_first else 1)
    return Plan((book.end_ns(hit.index), RANGE, priority), Step.FILL, hit)


def _happens_at(book: SymbolDay, hit: Hit) -> int:
    return book.start_ns(hit.index) if hit.at_open else book.end_ns(hit.index)


def _price(value: float | None, what: str) -> float:
    if value is None:
        raise InvariantBroken(f"an accepted order lost its {what}")
    return value


def _hit(w: Working, book: SymbolDay, lo: int, hi: int, strict: bool) -> Hit | None:
    order, bars = w.order, book.bars
    kind = order.order_type
    if kind is VenueOrderType.MKT or (kind is VenueOrderType.STP and w.triggered):
        return market_hit(bars, lo, hi)
    limit = order.limit_price
    if kind is VenueOrderType.LMT or (kind is VenueOrderType.STP_LMT and w.triggered):
        return limit_hit(bars, lo, hi, order.action, _price(limit, "limit"), strict=strict)
    stop = _price(order.stop_price, "stop")
    if kind is VenueOrderType.STP:
        return stop_hit(bars, lo, hi, order.action, stop)
    return stop_limit_hit(bars, lo, hi, order.action, stop, _price(limit, "limit"), strict=strict)


def _joins_auction(w: Working, day: TradingDay, book: SymbolDay, hit: Hit) -> bool:
    """An order working before the open whose fill is the opening print joins the auction."""
    plain = w.order.order_type in (VenueOrderType.MKT, VenueOrderType.LMT)
    early = w.active_from_ns is not None and w.active_from_ns <= day.open_ns
    return plain and early and hit.index == book.auction


def _auction(w: Working, book: SymbolDay) -> Plan | None:
    """MOO fills at the opening print; LOO only if its limit is marketable there."""
    index = book.auction
    if w.auction_done or index is None or w.active_from_ns is None:
        return None
    if w.active_from_ns > book.start_ns(index):
        return None
    opening = float(book.bars.open[index])
    if w.order.order_type is VenueOrderType.LMT:
        limit = _price(w.order.limit_price, "limit")
        marketable = opening <= limit if w.order.action is Side.BUY else opening >= limit
        if not marketable:
            return None
    hit = Hit(index, True, opening, FillKind.AUCTION, opening, True, False)
    return Plan((book.start_ns(index), OPEN, 0), Step.FILL, hit)


def _expiry(w: Working, day: TradingDay, book: SymbolDay | None) -> Plan | None:
    tif = w.order.tif
    if tif is Tif.DAY:
        end = day.window(w.extended)[1]
        what = "extended trading hours" if w.extended else "regular session"
        return Plan(
            (end, EXPIRY, 0), Step.EXPIRE, reason=f"DAY order expired at the end of the {what}"
        )
    if tif is Tif.IOC and w.ioc_index is not None and book is not None:
        end = book.end_ns(w.ioc_index)
        return Plan((end, EXPIRY, 0), Step.EXPIRE, reason="IOC remainder cancelled")
    if tif is Tif.OPG:
        if book is None or book.auction is None:
            return Plan((day.close_ns, EXPIRY, 0), Step.EXPIRE, reason="no opening print")
        at = book.start_ns(book.auction)
        return Plan((at, AFTER_AUCTION, 0), Step.EXPIRE, reason="unfilled in the opening auction")
    return None
