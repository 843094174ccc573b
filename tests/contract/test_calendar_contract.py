"""The Calendar contract, pinned to real NYSE facts.

Each implementation is built once per module: building a calendar takes a few tenths of a
second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from openbell.adapters.calendar import ExchangeCalendar
from openbell.domain.errors import InvalidValue, NotATradingDay, RefusedInput
from openbell.ports import Calendar

ET = ZoneInfo("America/New_York")


def _nyse() -> Calendar:
    return ExchangeCalendar.nyse()


@pytest.fixture(scope="module", params=[_nyse], ids=["exchange_calendars"])
def calendar(request: pytest.FixtureRequest) -> Calendar:
    factory: Callable[[], Calendar] = request.param
    return factory()


def et(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ET)


# --- sessions -----------------------------------------------------------------------------


def test_a_regular_session_runs_0930_to_1600_et(calendar: Calendar) -> None:
    session = calendar.session(date(2025, 11, 26))
    assert session.trading_day == date(2025, 11, 26)
    assert session.open == et(date(2025, 11, 26), 9, 30)
    assert session.close == et(date(2025, 11, 26), 16)
    assert session.early_close is False


def test_session_times_are_aware_datetimes_in_new_york(calendar: Calendar) -> None:
    session = calendar.session(date(2025, 11, 26))
    for instant in (session.open, session.close):
        assert type(instant) is datetime
        assert instant.tzinfo == ET


def test_the_day_after_thanksgiving_2025_closes_early_at_1300(calendar: Calendar) -> None:
    session = calendar.session(date(2025, 11, 28))
    assert calendar.is_trading_day(date(2025, 11, 28))
    assert session.open == et(date(2025, 11, 28), 9, 30)
    assert session.close == et(date(2025, 11, 28), 13)
    assert session.early_close is True


def test_christmas_eve_2015_closes_early_at_1300(calendar: Calendar) -> None:
    session = calendar.session(date(2015, 12, 24))
    assert session.close == et(date(2015, 12, 24), 13)
    assert session.early_close is True


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2025, 12, 25), "Christmas"),
        (date(2025, 1, 9), "national day of mourning for President Carter"),
        (date(2025, 11, 29), "Saturday"),
    ],
)
def test_closed_days_have_no_session(calendar: Calendar, day: date, reason: str) -> None:
    assert calendar.is_trading_day(day) is False, reason
    with pytest.raises(NotATradingDay, match=f"no session on {day}"):
        calendar.session(day)


def test_no_session_error_names_the_nearest_sessions(calendar: Calendar) -> None:
    with pytest.raises(NotATradingDay) as raised:
        calendar.session(date(2025, 12, 25))
    message = str(raised.value)
    assert "XNYS" in message
    assert "2025-12-24 before" in message
    assert "2025-12-26 after" in message


@pytest.mark.parametrize(
    ("day", "utc_open"),
    [
        (date(2025, 3, 7), datetime(2025, 3, 7, 14, 30, tzinfo=UTC)),  # last Friday on EST
        (date(2025, 3, 10), datetime(2025, 3, 10, 13, 30, tzinfo=UTC)),  # first Monday on EDT
        (date(2025, 10, 31), datetime(2025, 10, 31, 13, 30, tzinfo=UTC)),  # last Friday on EDT
        (date(2025, 11, 3), datetime(2025, 11, 3, 14, 30, tzinfo=UTC)),  # first Monday on EST
    ],
)
def test_the_open_stays_at_0930_et_across_daylight_saving_changes(
    calendar: Calendar, day: date, utc_open: datetime
) -> None:
    session = calendar.session(day)
    assert session.open.timetz().replace(tzinfo=None) == time(9, 30)
    assert session.open == utc_open
    assert session.open.astimezone(UTC).hour == utc_open.hour


# --- next and previous ----------------------------------------------------------------------


def test_next_session_skips_a_holiday(calendar: Calendar) -> None:
    assert calendar.next_session(date(2025, 12, 24)).trading_day == date(2025, 12, 26)


def test_previous_session_skips_a_holiday(calendar: Calendar) -> None:
    assert calendar.previous_session(date(2025, 12, 26)).trading_day == date(2025, 12, 24)


def test_next_and_previous_from_a_holiday_are_its_neighbours(calendar: Calendar) -> None:
    assert calendar.next_session(date(2025, 12, 25)).trading_day == date(2025, 12, 26)
    assert calendar.previous_session(date(2025, 12, 25)).trading_day == date(2025, 12, 24)


def test_next_and_previous_cross_a_weekend(calendar: Calendar) -> None:
    assert calendar.next_session(date(2025, 11, 28)).trading_day == date(2025, 12, 1)
    assert calendar.previous_session(date(2025, 12, 1)).trading_day == date(2025, 11, 28)
    assert calendar.next_session(date(2025, 11, 29)).trading_day == date(2025, 12, 1)
    assert calendar.previous_session(date(2025, 11, 30)).trading_day == date(2025, 11, 28)


# --- upcoming ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected_day"),
    [
        (et(date(2025, 11, 26), 4), date(2025, 11, 26)),  # before the open
        (et(date(2025, 11, 26), 9, 30), date(2025, 11, 26)),  # at the open
        (et(date(2025, 11, 26), 15, 59), date(2025, 11, 26)),  # during
        (et(date(2025, 11, 26), 16), date(2025, 11, 28)),  # at the close: next (Thanksgiving)
        (et(date(2025, 11, 28), 13, 30), date(2025, 12, 1)),  # after an early close
        (et(date(2025, 11, 29), 12), date(2025, 12, 1)),  # on a Saturday
        (datetime(2025, 11, 29, 4, 0, tzinfo=UTC), date(2025, 12, 1)),  # Fri 23:00 ET in UTC
        (datetime(2025, 11, 26, 20, 59, tzinfo=UTC), date(2025, 11, 26)),  # 15:59 ET in UTC
    ],
)
def test_upcoming_session(calendar: Calendar, at: datetime, expected_day: date) -> None:
    session = calendar.upcoming_session(at)
    assert session.trading_day == expected_day
    assert at < session.close


def test_upcoming_session_refuses_a_naive_datetime(calendar: Calendar) -> None:
    with pytest.raises(InvalidValue, match="timezone-aware"):
        calendar.upcoming_session(datetime(2025, 11, 26, 10, 0))


# --- outside the loaded range --------------------------------------------------------------


@pytest.mark.parametrize("day", [date(1990, 1, 2), date(2100, 1, 4)])
def test_a_day_outside_the_loaded_range_is_refused_clearly(calendar: Calendar, day: date) -> None:
    with pytest.raises(RefusedInput, match=r"expected a day between \d{4}-\d\d-\d\d and") as err:
        calendar.is_trading_day(day)
    assert day.isoformat() in str(err.value)
    with pytest.raises(RefusedInput, match="expected a day between"):
        calendar.session(day)
    with pytest.raises(RefusedInput, match="expected a day between"):
        calendar.next_session(day)
    with pytest.raises(RefusedInput, match="expected a day between"):
        calendar.previous_session(day)


def test_a_datetime_is_refused_where_a_day_is_expected(calendar: Calendar) -> None:
    with pytest.raises(InvalidValue, match="a date"):
        calendar.is_trading_day(datetime(2025, 11, 26, 10, 0, tzinfo=ET))


# --- ExchangeCalendar specifics -------------------------------------------------------------


@pytest.fixture(scope="module")
def year_2025() -> ExchangeCalendar:
    return ExchangeCalendar.nyse(start=date(2025, 1, 1), end=date(2025, 12, 31))


def test_a_narrow_calendar_names_its_loaded_range(year_2025: ExchangeCalendar) -> None:
    assert (year_2025.first_day, year_2025.last_day) == (date(2025, 1, 2), date(2025, 12, 31))
    with pytest.raises(
        InvalidValue,
        match=r"expected a day between 2025-01-02 and 2025-12-31.*found '2026-01-02'",
    ):
        year_2025.session(date(2026, 1, 2))


def test_there_is_no_next_session_after_the_last_loaded_one(year_2025: ExchangeCalendar) -> None:
    with pytest.raises(RefusedInput, match="before the last loaded XNYS session 2025-12-31"):
        year_2025.next_session(date(2025, 12, 31))
    with pytest.raises(RefusedInput, match="the last loaded XNYS session 2025-12-31"):
        year_2025.upcoming_session(et(date(2025, 12, 31), 16) + timedelta(minutes=1))


def test_there_is_no_previous_session_before_the_first_loaded_one(
    year_2025: ExchangeCalendar,
) -> None:
    with pytest.raises(RefusedInput, match="after the first loaded XNYS session 2025-01-02"):
        year_2025.previous_session(date(2025, 1, 2))


def test_an_impossible_range_is_refused_without_a_library_error() -> None:
    with pytest.raises(InvalidValue, match="NYSE calendar range") as raised:
        ExchangeCalendar.nyse(start=date(2025, 6, 1), end=date(2025, 1, 1))
    assert type(raised.value) is InvalidValue
