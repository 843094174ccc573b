"""Relative times resolved against real NYSE sessions: a half day flattens at 12:45 ET."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from openbell.adapters.calendar import ExchangeCalendar
from openbell.domain.sessions import RelativeTime, Session

ET = ZoneInfo("America/New_York")
HALF_DAY = date(2025, 11, 28)
NORMAL_DAY = date(2025, 11, 26)


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar.nyse(start=date(2025, 1, 1), end=date(2025, 12, 31))


@pytest.fixture(scope="module")
def half_day(calendar: ExchangeCalendar) -> Session:
    return calendar.session(HALF_DAY)


@pytest.fixture(scope="module")
def normal_day(calendar: ExchangeCalendar) -> Session:
    return calendar.session(NORMAL_DAY)


def _resolve_et(text: str, session: Session) -> datetime:
    return RelativeTime.parse(text).resolve(session).astimezone(ET)


def test_flatten_on_a_half_day_is_1245_et(half_day: Session) -> None:
    assert _resolve_et("close - 15m", half_day) == datetime.combine(HALF_DAY, time(12, 45), ET)


def test_flatten_on_a_normal_day_is_1545_et(normal_day: Session) -> None:
    assert _resolve_et("close - 15m", normal_day) == datetime.combine(NORMAL_DAY, time(15, 45), ET)


@pytest.mark.parametrize(
    ("text", "local_time"),
    [
        ("open - 90m", time(8, 0)),  # supervisor wakes the bots
        ("open - 60m", time(8, 30)),  # morning scan
        ("open - 5m", time(9, 25)),  # MOO submission
        ("open - 2m", time(9, 28)),  # the venue's MOO cutoff
        ("open", time(9, 30)),
        ("close + 5m", time(16, 5)),  # bots sleep
    ],
)
def test_relative_times_on_a_normal_day(normal_day: Session, text: str, local_time: time) -> None:
    resolved = _resolve_et(text, normal_day)
    assert resolved == datetime.combine(NORMAL_DAY, local_time, ET)
    assert resolved.timetz().replace(tzinfo=None) == local_time


def test_open_relative_times_do_not_move_on_a_half_day(half_day: Session) -> None:
    assert _resolve_et("open - 90m", half_day) == datetime.combine(HALF_DAY, time(8, 0), ET)
    assert _resolve_et("open - 2m", half_day) == datetime.combine(HALF_DAY, time(9, 28), ET)


def test_open_minus_90m_follows_the_open_across_daylight_saving(
    calendar: ExchangeCalendar,
) -> None:
    before, after = calendar.session(date(2025, 3, 7)), calendar.session(date(2025, 3, 10))
    assert _resolve_et("open - 90m", before).timetz().replace(tzinfo=None) == time(8, 0)
    assert _resolve_et("open - 90m", after).timetz().replace(tzinfo=None) == time(8, 0)
    assert RelativeTime.parse("open - 90m").resolve(after).utcoffset() != (
        RelativeTime.parse("open - 90m").resolve(before).utcoffset()
    )
