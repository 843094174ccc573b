"""The clocks' own behaviour, driven by hand-written fake wall clocks and sleepers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from openbell.adapters.clock import (
    SIM_ANCHOR_ENV,
    ManualClock,
    SimAnchor,
    SimClock,
    SystemClock,
)
from openbell.domain.errors import ConfigError, InvalidValue, RefusedInput

ET = ZoneInfo("America/New_York")
SIM_START = datetime(2025, 11, 28, 8, 0, tzinfo=ET)
WALL_START = datetime(2026, 11, 23, 23, 50, tzinfo=UTC)
ENCODED = "2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|60"


class FakeWall:
    """A wall clock that reads ``instant`` and moves only when a test or FakeSleeper moves it."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def __call__(self) -> datetime:
        return self.instant


class FakeSleeper:
    """Record each nap (wall seconds) and move the fake wall forward by it."""

    def __init__(self, wall: FakeWall) -> None:
        self.wall = wall
        self.naps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.wall.instant += timedelta(seconds=seconds)


def _sim_clock(speed: float = 60) -> tuple[SimClock, FakeWall, FakeSleeper]:
    wall = FakeWall(WALL_START)
    sleeper = FakeSleeper(wall)
    return SimClock(SimAnchor(SIM_START, WALL_START, speed), wall, sleeper), wall, sleeper


# --- SimClock ---------------------------------------------------------------------------------


def test_sim_time_is_sim_start_at_the_wall_start() -> None:
    clock, _, _ = _sim_clock()
    assert clock.now() == SIM_START
    assert clock.now().tzinfo is UTC


@pytest.mark.parametrize(
    ("wall_elapsed", "sim_elapsed"),
    [
        (timedelta(seconds=1), timedelta(minutes=1)),
        (timedelta(seconds=30), timedelta(minutes=30)),
        (timedelta(minutes=6, seconds=30), timedelta(hours=6, minutes=30)),
        (timedelta(milliseconds=500), timedelta(seconds=30)),
    ],
)
def test_at_speed_60_one_wall_second_is_one_sim_minute(
    wall_elapsed: timedelta, sim_elapsed: timedelta
) -> None:
    clock, wall, _ = _sim_clock(speed=60)
    wall.instant = WALL_START + wall_elapsed
    assert clock.now() == SIM_START + sim_elapsed


def test_at_speed_60_the_opening_bell_rings_90_wall_seconds_after_0800() -> None:
    clock, wall, _ = _sim_clock(speed=60)
    wall.instant = WALL_START + timedelta(seconds=90)
    assert clock.now().astimezone(ET) == datetime(2025, 11, 28, 9, 30, tzinfo=ET)


def test_two_processes_with_the_same_anchor_read_the_same_time() -> None:
    wall = FakeWall(WALL_START + timedelta(seconds=123, microseconds=456))
    first = SimClock(SimAnchor.decode(ENCODED), wall)
    second = SimClock(SimAnchor.from_env({SIM_ANCHOR_ENV: ENCODED}), wall)
    assert first.now() == second.now() == SIM_START + timedelta(seconds=123.000456 * 60)


def test_sleep_until_naps_deadline_minus_now_over_speed_wall_seconds() -> None:
    clock, _, sleeper = _sim_clock(speed=60)
    deadline = SIM_START + timedelta(seconds=30)
    clock.sleep_until(deadline)
    assert sleeper.naps == [0.5]
    assert clock.now() == deadline


def test_sleep_until_naps_in_chunks_of_at_most_one_wall_second() -> None:
    clock, _, sleeper = _sim_clock(speed=60)
    deadline = SIM_START + timedelta(minutes=10, seconds=30)
    clock.sleep_until(deadline)
    assert sleeper.naps == [1.0] * 10 + [0.5]
    assert clock.now() == deadline


def test_sleep_until_notices_a_wall_clock_jump() -> None:
    clock, wall, _ = _sim_clock(speed=60)
    naps: list[float] = []

    def jumpy_sleep(seconds: float) -> None:
        naps.append(seconds)
        wall.instant += timedelta(minutes=5)  # the machine slept through a suspend

    jumpy = SimClock(clock.anchor, wall, jumpy_sleep)
    jumpy.sleep_until(SIM_START + timedelta(minutes=10))
    assert naps == [1.0]


def test_sleep_until_a_past_deadline_does_not_sleep() -> None:
    clock, _, sleeper = _sim_clock(speed=60)
    clock.sleep_until(SIM_START - timedelta(minutes=1))
    clock.sleep_until(SIM_START)
    assert sleeper.naps == []


def test_sleep_until_a_naive_deadline_is_refused() -> None:
    clock, _, sleeper = _sim_clock()
    with pytest.raises(InvalidValue, match="timezone-aware"):
        clock.sleep_until(datetime(2025, 11, 28, 9, 30))
    assert sleeper.naps == []


# --- SimAnchor --------------------------------------------------------------------------------


def test_anchor_encodes_to_readable_text() -> None:
    assert SimAnchor(SIM_START, WALL_START, 60).encode() == ENCODED


@pytest.mark.parametrize("speed", [1, 60, 2.5, 1 / 3, 0.001, 10_000])
def test_anchor_survives_an_encode_decode_round_trip(speed: float) -> None:
    anchor = SimAnchor(SIM_START + timedelta(microseconds=7), WALL_START, speed)
    decoded = SimAnchor.decode(anchor.encode())
    assert decoded == anchor
    assert decoded.speed == speed
    assert decoded.sim_start.utcoffset() == timedelta(hours=-5)


def test_decode_tolerates_surrounding_whitespace() -> None:
    assert SimAnchor.decode(f" {ENCODED.replace('|', ' | ')}\n") == SimAnchor.decode(ENCODED)


def test_starting_now_anchors_sim_start_to_the_current_wall_instant() -> None:
    wall = FakeWall(WALL_START)
    anchor = SimAnchor.starting_now(SIM_START, 60, wall)
    assert anchor == SimAnchor(SIM_START, WALL_START, 60)


@pytest.mark.parametrize(
    ("text", "expected_fragment"),
    [
        ("", "'<sim_start>|<wall_start>|<speed>'"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00", "<speed>"),
        (ENCODED + "|extra", "<speed>"),
        ("tomorrow|2026-11-23T23:50:00+00:00|60", "sim_start: expected an ISO 8601 datetime"),
        ("2025-11-28T08:00:00-05:00|now|60", "wall_start: expected an ISO 8601 datetime"),
        ("2025-11-28T08:00:00|2026-11-23T23:50:00+00:00|60", "sim_start: expected a timezone"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00|60", "wall_start: expected a timezone"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|0", "greater than 0"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|-60", "greater than 0"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|20000", "at most 10000"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|fast", "speed: expected a number"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|", "speed: expected a number"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|nan", "a finite number"),
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|inf", "a finite number"),
    ],
)
def test_bad_anchor_text_is_refused_saying_what_was_expected(
    text: str, expected_fragment: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        SimAnchor.decode(text)
    message = str(raised.value)
    assert expected_fragment in message
    assert "found" in message


def test_a_missing_anchor_variable_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=f"{SIM_ANCHOR_ENV}: expected a sim anchor"):
        SimAnchor.from_env({"OPENBELL_OTHER": "1"})
    with pytest.raises(ConfigError, match="not set"):
        SimAnchor.from_env({SIM_ANCHOR_ENV: "  "})


def test_an_anchor_is_refused_on_construction_with_a_bad_value() -> None:
    with pytest.raises(InvalidValue, match="timezone-aware"):
        SimAnchor(datetime(2025, 11, 28, 8, 0), WALL_START, 60)
    with pytest.raises(InvalidValue, match="a number"):
        SimAnchor(SIM_START, WALL_START, True)


# --- ManualClock ------------------------------------------------------------------------------


def test_manual_clock_reads_its_start_in_utc() -> None:
    clock = ManualClock(SIM_START)
    assert clock.now() == SIM_START
    assert clock.now().tzinfo is UTC


def test_manual_clock_advances_and_sets() -> None:
    clock = ManualClock(SIM_START)
    assert clock.advance(timedelta(minutes=90)) == SIM_START + timedelta(minutes=90)
    target = datetime(2025, 11, 28, 13, 0, tzinfo=ET)
    assert clock.set(target) == target
    assert clock.now() == target
    assert clock.set(target) == target  # setting the same instant is not going backwards


def test_manual_clock_refuses_to_go_backwards() -> None:
    clock = ManualClock(SIM_START)
    with pytest.raises(InvalidValue, match="no earlier than the clock's now") as raised:
        clock.set(SIM_START - timedelta(seconds=1))
    assert "found" in str(raised.value)
    with pytest.raises(InvalidValue, match="zero or more"):
        clock.advance(timedelta(seconds=-1))
    assert clock.now() == SIM_START


def test_manual_clock_refuses_naive_instants() -> None:
    with pytest.raises(InvalidValue, match="timezone-aware"):
        ManualClock(datetime(2025, 11, 28, 8, 0))
    clock = ManualClock(SIM_START)
    with pytest.raises(InvalidValue, match="timezone-aware"):
        clock.set(datetime(2025, 11, 28, 9, 0))


def test_manual_clock_sleep_jumps_to_a_future_deadline_and_ignores_a_past_one() -> None:
    clock = ManualClock(SIM_START)
    opening_bell = datetime(2025, 11, 28, 9, 30, tzinfo=ET)
    clock.sleep_until(opening_bell)
    assert clock.now() == opening_bell
    clock.sleep_until(SIM_START)
    assert clock.now() == opening_bell


def test_errors_are_refusals() -> None:
    assert issubclass(InvalidValue, RefusedInput)
    assert issubclass(ConfigError, RefusedInput)


# --- SystemClock ------------------------------------------------------------------------------


def test_system_clock_reads_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
