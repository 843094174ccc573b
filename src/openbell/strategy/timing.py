"""Entry timing: Market-On-Open, or a late market entry some minutes after the open."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from openbell.domain.enums import OrderRole, OrderType, Side, TimeInForce
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import OrderIntent
from openbell.domain.values import OrderRef, Quantity, Symbol
from openbell.strategy.schedule import DayTimeline

_LATE = re.compile(r"^late:(\d+)m$")


@dataclass(frozen=True, slots=True)
class EntryTiming:
    """``late_minutes`` None means a Market-On-Open entry."""

    late_minutes: int | None = None

    @classmethod
    def parse(cls, text: str) -> EntryTiming:
        """``moo`` or ``late:<minutes>m`` (e.g. ``late:60m``, the brief's hour-late entry)."""
        if text == "moo":
            return cls()
        match = _LATE.match(text)
        if match is None or not 1 <= int(match.group(1)) <= 389:
            raise InvalidValue("entry timing", "'moo' or 'late:<1-389>m', e.g. 'late:60m'", text)
        return cls(int(match.group(1)))

    @property
    def is_moo(self) -> bool:
        return self.late_minutes is None

    def submit_at(self, timeline: DayTimeline) -> datetime:
        """When the entry order is sent."""
        if self.late_minutes is None:
            return timeline.moo_submit
        return timeline.session.open + timedelta(minutes=self.late_minutes)

    def entry_intent(self, ref: OrderRef, symbol: Symbol, quantity: Quantity) -> OrderIntent:
        """A MOO (MARKET + AT_THE_OPEN), or a DAY market order for a late entry."""
        tif = TimeInForce.AT_THE_OPEN if self.is_moo else TimeInForce.DAY
        return OrderIntent(ref, symbol, Side.BUY, quantity, OrderType.MARKET, tif, OrderRole.ENTRY)

    def __str__(self) -> str:
        return "moo" if self.late_minutes is None else f"late:{self.late_minutes}m"
