"""What the reports share: money and price text, percent change, the New York date, and
the event log read page by page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from openbell.domain.records import LedgerEvent
from openbell.domain.sessions import NEW_YORK
from openbell.ports import Calendar, Ledger

_CENT = Decimal("0.01")
_PRICE = Decimal("0.0001")
_HUNDRED = Decimal(100)
_PAGE = 1000


def cents(value: Decimal | None) -> str:
    """Money to the cent, half up; ``-`` for none."""
    return "-" if value is None else str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def price(value: Decimal | None) -> str:
    """A price to IB's 0.0001 grid, half up; ``-`` for none."""
    return "-" if value is None else str(value.quantize(_PRICE, rounding=ROUND_HALF_UP))


def pct_change(start: Decimal, end: Decimal) -> Decimal:
    """How far ``end`` is from ``start``, in percent of ``start``."""
    return (end / start - 1) * _HUNDRED


def ny_date(at: datetime) -> date:
    return at.astimezone(NEW_YORK).date()


def iter_events(ledger: Ledger) -> Iterator[LedgerEvent]:
    """The whole event log, oldest first, one page in memory at a time."""
    after = 0
    while page := ledger.events(after_id=after, limit=_PAGE):
        yield from page
        after = page[-1].event_id


def trading_days(calendar: Calendar, first: date, last: date) -> list[date]:
    """The trading days from ``first`` to ``last``, both included, in order."""
    days, current = [], first
    while current <= last:
        if calendar.is_trading_day(current):
            days.append(current)
        current += timedelta(days=1)
    return days
