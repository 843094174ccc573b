"""The exchange calendar (NYSE) over the ``exchange_calendars`` library.

pandas and ``exchange_calendars`` stay inside this module: callers get dates, aware
``datetime`` instants in the exchange's zone (America/New_York), :class:`Session` values and
openbell errors only.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd

from openbell.domain.errors import InvalidValue, NotATradingDay
from openbell.domain.orders import require_aware
from openbell.domain.sessions import Session

NYSE = "XNYS"
DEFAULT_START = date(2000, 1, 1)
"""The first day :meth:`ExchangeCalendar.nyse` loads by default, so old backtest data works."""

# exchange_calendars 4.13.2 reads ``Series.values`` on tz-aware data while it builds a
# calendar, which pandas 3.1 deprecates. The warning is the library's to fix, not ours to see.
_LIBRARY_DEPRECATION = r"Series\.values returning an ndarray that drops timezone"


class ExchangeCalendar:
    """Answer the Calendar port from an ``exchange_calendars`` calendar (XNYS by default).

    Only days between the first and last loaded sessions are answered; any other day is
    refused with InvalidValue naming the loaded range, never guessed at.
    """

    def __init__(self, calendar: xcals.ExchangeCalendar) -> None:
        """Wrap an already built calendar; build one with :meth:`nyse`."""
        self._calendar = calendar
        self._name = str(calendar.name)
        self._zone = ZoneInfo(str(calendar.tz))
        self._sessions = calendar.sessions  # naive midnight timestamps, ascending
        self._first: date = calendar.first_session.date()
        self._last: date = calendar.last_session.date()

    @classmethod
    def nyse(cls, start: date | None = None, end: date | None = None) -> ExchangeCalendar:
        """Build the NYSE calendar for ``start`` (default 2000-01-01) to ``end``.

        ``end`` defaults to the library's horizon, about a year from today. Building takes
        a few tenths of a second, so build once at start-up and pass it in.
        """
        first = DEFAULT_START if start is None else start
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=_LIBRARY_DEPRECATION, category=DeprecationWarning
                )
                calendar = xcals.get_calendar(NYSE, start=first, end=end)
        except (ValueError, xcals.errors.CalendarError) as error:
            raise InvalidValue(
                "NYSE calendar range",
                f"a start before the end, within the library's range ({error})",
                f"{first} to {end or 'the default end'}",
            ) from error
        return cls(calendar)

    @property
    def first_day(self) -> date:
        """Return the first loaded session's day."""
        return self._first

    @property
    def last_day(self) -> date:
        """Return the last loaded session's day."""
        return self._last

    def is_trading_day(self, day: date) -> bool:
        """Return True if the exchange holds a session on ``day``."""
        return self._is_session_at(self._position(day), day)

    def session(self, day: date) -> Session:
        """Return the session on ``day``; raise NotATradingDay if the exchange is closed."""
        position = self._position(day)
        if not self._is_session_at(position, day):
            raise NotATradingDay(self._no_session_message(day, position))
        return self._session_at(position)

    def next_session(self, day: date) -> Session:
        """Return the first session strictly after ``day``, a session or not."""
        position = self._position(day)
        after = position + 1 if self._is_session_at(position, day) else position
        if after >= len(self._sessions):
            raise self._beyond_loaded("day for next_session", "a day before", day.isoformat())
        return self._session_at(after)

    def previous_session(self, day: date) -> Session:
        """Return the last session strictly before ``day``, a session or not."""
        before = self._position(day) - 1
        if before < 0:
            raise InvalidValue(
                "day for previous_session",
                f"a day after the first loaded {self._name} session {self._first}",
                day.isoformat(),
            )
        return self._session_at(before)

    def upcoming_session(self, at: datetime) -> Session:
        """Return the session in progress at ``at`` (aware), or else the next one to open."""
        require_aware("upcoming_session instant", at)
        position = self._position(at.astimezone(self._zone).date())
        # The session at ``position`` is on the day of ``at`` or later, so it is over only
        # if it is today's and its close has passed.
        if at >= self._instant(self._calendar.closes.iloc[position]):
            position += 1
        if position >= len(self._sessions):
            raise self._beyond_loaded(
                "upcoming_session instant", "an instant before the close of", at.isoformat()
            )
        return self._session_at(position)

    # --- helpers ----------------------------------------------------------------------------

    def _position(self, day: date) -> int:
        """Return the index of the first loaded session on or after ``day`` (a loaded day)."""
        if isinstance(day, datetime) or not isinstance(day, date):
            raise InvalidValue("trading day", "a date (not a datetime)", day)
        if not self._first <= day <= self._last:
            raise InvalidValue(
                "trading day",
                f"a day between {self._first} and {self._last}, "
                f"the sessions loaded in the {self._name} calendar",
                day.isoformat(),
            )
        return int(self._sessions.searchsorted(pd.Timestamp(day)))

    def _day_at(self, position: int) -> date:
        day: date = self._sessions[position].date()
        return day

    def _is_session_at(self, position: int, day: date) -> bool:
        return self._day_at(position) == day

    def _instant(self, timestamp: pd.Timestamp) -> datetime:
        instant: datetime = timestamp.to_pydatetime()
        return instant.astimezone(self._zone)

    def _session_at(self, position: int) -> Session:
        trading_day = self._day_at(position)
        open_ = self._instant(self._calendar.opens.iloc[position])
        close = self._instant(self._calendar.closes.iloc[position])
        early_close = close.time() < self._regular_close(trading_day)
        return Session(trading_day, open_, close, early_close)

    def _regular_close(self, day: date) -> time:
        """Return the regular local close time in force on ``day`` (16:00 for the NYSE)."""
        regular: time = self._calendar.close_times[0][1]
        for since, close_time in self._calendar.close_times:
            if since is None or pd.Timestamp(since).date() <= day:
                regular = close_time
        return regular

    def _no_session_message(self, day: date, position: int) -> str:
        # ``position`` is the first session after ``day``; the one before it precedes ``day``.
        nearest = []
        if position > 0:
            nearest.append(f"{self._day_at(position - 1)} before")
        nearest.append(f"{self._day_at(position)} after")
        return (
            f"{self._name} has no session on {day} ({day:%A}); "
            f"the nearest sessions are {' and '.join(nearest)}"
        )

    def _beyond_loaded(self, what: str, relation: str, found: str) -> InvalidValue:
        expected = f"{relation} the last loaded {self._name} session {self._last}"
        return InvalidValue(what, expected, found)
