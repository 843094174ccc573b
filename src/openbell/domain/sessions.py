"""Exchange sessions and times expressed relative to them ("open - 60m", "close - 15m").

Settings never name wall-clock hours: a time is an offset from the session's open or close,
resolved against the real session, so a half day flattens at 12:45 ET, not 15:45.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from openbell.domain.errors import InvalidValue
from openbell.domain.orders import require_aware

NEW_YORK = ZoneInfo("America/New_York")
"""The exchange's time zone: every wall-clock time openbell shows is New York time."""


@dataclass(frozen=True, slots=True)
class Session:
    """One regular trading session. ``open`` and ``close`` are aware instants."""

    trading_day: date
    open: datetime
    close: datetime
    early_close: bool = False

    def __post_init__(self) -> None:
        require_aware("session open", self.open)
        require_aware("session close", self.close)
        if self.close <= self.open:
            raise InvalidValue("session close", f"after the open {self.open}", self.close)

    @property
    def length(self) -> timedelta:
        return self.close - self.open

    def contains(self, instant: datetime) -> bool:
        """True if ``instant`` falls in regular trading hours [open, close)."""
        return self.open <= instant < self.close


class Anchor(StrEnum):
    OPEN = "open"
    CLOSE = "close"


_GRAMMAR = "'<open|close> [+|- <n>h|m|s ...]', e.g. 'open - 60m' or 'close - 1h30m'"
# ASCII only: with IGNORECASE alone, Unicode folding reads the long s (U+017F) as an 's'.
_WHOLE = re.compile(
    r"^\s*(open|close)\s*(?:([+-])\s*((?:\d{1,9}\s*[hms]\s*)+))?$", re.IGNORECASE | re.ASCII
)
_PART = re.compile(r"(\d+)\s*([hms])", re.IGNORECASE | re.ASCII)
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_MAX_OFFSET = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class RelativeTime:
    """An instant defined as an offset from a session's open or close."""

    anchor: Anchor
    offset: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if abs(self.offset) > _MAX_OFFSET:
            raise InvalidValue("relative time offset", "at most 24h either way", str(self))

    @classmethod
    def parse(cls, text: str) -> RelativeTime:
        """Parse ``open - 60m``, ``close - 15m``, ``open + 1h30m`` or plain ``open``."""
        if not isinstance(text, str):
            raise InvalidValue("relative time", _GRAMMAR, text)
        match = _WHOLE.match(text)
        if match is None:
            raise InvalidValue("relative time", _GRAMMAR, text)
        anchor, sign, amount = match.groups()
        seconds = 0
        for number, unit in _PART.findall(amount or ""):
            seconds += int(number) * _UNIT_SECONDS[unit.lower()]
        if seconds > _MAX_OFFSET.total_seconds():
            raise InvalidValue("relative time offset", "at most 24h either way", text)
        offset = timedelta(seconds=-seconds if sign == "-" else seconds)
        return cls(Anchor(anchor.lower()), offset)

    def resolve(self, session: Session) -> datetime:
        """The instant this time names in ``session``."""
        base = session.open if self.anchor is Anchor.OPEN else session.close
        return base + self.offset

    def __str__(self) -> str:
        if not self.offset:
            return str(self.anchor)
        sign = "-" if self.offset < timedelta(0) else "+"
        return f"{self.anchor} {sign} {_format_duration(abs(self.offset))}"


def _format_duration(span: timedelta) -> str:
    total = int(span.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{seconds}s" if seconds else "",
    ]
    return "".join(parts)
