from datetime import UTC, date, datetime, timedelta

import pytest

from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import Anchor, RelativeTime, Session

OPEN = datetime(2025, 11, 28, 14, 30, tzinfo=UTC)
CLOSE = datetime(2025, 11, 28, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "anchor", "minutes"),
    [
        ("open - 60m", Anchor.OPEN, -60),
        ("close - 15m", Anchor.CLOSE, -15),
        ("OPEN+1h30m", Anchor.OPEN, 90),
        ("  close + 5m ", Anchor.CLOSE, 5),
        ("open", Anchor.OPEN, 0),
        ("open - 2h 15m", Anchor.OPEN, -135),
    ],
)
def test_parse(text: str, anchor: Anchor, minutes: int) -> None:
    parsed = RelativeTime.parse(text)
    assert parsed == RelativeTime(anchor, timedelta(minutes=minutes))


def test_seconds_are_allowed() -> None:
    assert RelativeTime.parse("open - 30s").offset == timedelta(seconds=-30)


@pytest.mark.parametrize("text", ["open - 90x", "noon", "open -", "open 5m", "", "close * 2m"])
def test_bad_text_says_what_was_expected(text: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        RelativeTime.parse(text)
    assert "open - 60m" in str(caught.value)
    assert repr(text) in str(caught.value)


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidValue):
        RelativeTime.parse(60)  # type: ignore[arg-type]


def test_offsets_beyond_a_day_are_refused() -> None:
    with pytest.raises(InvalidValue, match="24h"):
        RelativeTime.parse("open - 25h")


@pytest.mark.parametrize("text", ["open - 1h30m", "close + 5m", "open", "close - 45s", "open + 2h"])
def test_round_trip_through_text(text: str) -> None:
    assert str(RelativeTime.parse(text)) == text
    assert RelativeTime.parse(str(RelativeTime.parse(text))) == RelativeTime.parse(text)


def test_resolve_against_a_session() -> None:
    session = Session(date(2025, 11, 28), OPEN, CLOSE, early_close=True)
    assert RelativeTime.parse("close - 15m").resolve(session) == CLOSE - timedelta(minutes=15)
    assert RelativeTime.parse("open - 90m").resolve(session) == OPEN - timedelta(minutes=90)
    assert session.length == timedelta(hours=3, minutes=30)
    assert session.contains(OPEN) and not session.contains(CLOSE)


def test_session_must_close_after_it_opens_and_be_aware() -> None:
    with pytest.raises(InvalidValue):
        Session(date(2025, 11, 28), CLOSE, OPEN)
    with pytest.raises(InvalidValue):
        Session(date(2025, 11, 28), datetime(2025, 11, 28, 9, 30), CLOSE)


def test_a_relative_time_built_with_more_than_a_day_of_offset_is_refused() -> None:
    with pytest.raises(InvalidValue, match="at most 24h either way"):
        RelativeTime(Anchor.CLOSE, -timedelta(hours=24, seconds=1))
    assert RelativeTime(Anchor.OPEN, timedelta(hours=24)).offset == timedelta(hours=24)
