"""The clocks' own behaviour, driven by hand-written fake wall clocks and sleepers, and the
sim clock's speed plan that ``openbell run`` makes from the calendar."""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import (
    SIM_ANCHOR_ENV,
    ManualClock,
    SimAnchor,
    SimClock,
    SpeedChange,
    SystemClock,
)
from openbell.config import Settings, load_settings
from openbell.domain.errors import ConfigError, InvalidValue, RefusedInput
from openbell.domain.sessions import RelativeTime
from openbell.runtime.run import (
    RunOptions,
    RunPlan,
    plan_run,
    record_sim_run,
    sim_speed_plan,
)
from openbell.strategy.schedule import DayPlan

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


@pytest.mark.parametrize("speed", [1, 60, 2.5, 1 / 3, 0.001, 10_000, 100_000])
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
        ("2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|200000", "at most 100000"),
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


# --- SimAnchor with speed changes -------------------------------------------------------------

# 08:00-09:00 at x3600 (one wall second), 09:00-10:00 at x60 (60 wall seconds), then x600.
NINE, TEN = SIM_START + timedelta(hours=1), SIM_START + timedelta(hours=2)
CHANGES = (SpeedChange(NINE, 60), SpeedChange(TEN, 600))


def _piecewise() -> SimAnchor:
    return SimAnchor(SIM_START, WALL_START, 3600, CHANGES)


@pytest.mark.parametrize(
    ("wall_elapsed", "sim_elapsed"),
    [
        (timedelta(0), timedelta(0)),
        (timedelta(milliseconds=500), timedelta(minutes=30)),
        (timedelta(seconds=1), timedelta(hours=1)),  # the first change
        (timedelta(seconds=31), timedelta(hours=1, minutes=30)),
        (timedelta(seconds=61), timedelta(hours=2)),  # the second change
        (timedelta(seconds=62), timedelta(hours=2, minutes=10)),
        (timedelta(hours=1, seconds=61), timedelta(hours=2 + 600)),  # the last speed holds
    ],
)
def test_a_piecewise_anchor_maps_wall_to_sim_and_back(
    wall_elapsed: timedelta, sim_elapsed: timedelta
) -> None:
    anchor = _piecewise()
    assert anchor.sim_at(WALL_START + wall_elapsed) == SIM_START + sim_elapsed
    assert anchor.wall_at(SIM_START + sim_elapsed) == WALL_START + wall_elapsed
    assert anchor.sim_at(WALL_START + wall_elapsed).tzinfo is UTC
    assert anchor.wall_at(SIM_START + sim_elapsed).tzinfo is UTC


def test_sim_time_stands_at_sim_start_during_the_warm_up() -> None:
    anchor = _piecewise()
    assert anchor.sim_at(WALL_START - timedelta(seconds=12)) == SIM_START
    assert anchor.wall_at(SIM_START - timedelta(hours=3)) == WALL_START


@pytest.mark.parametrize("speeds", [(3600, 60, 600), (1 / 3, 7, 9999.5), (10_000, 0.001, 1)])
def test_the_mapping_is_monotone_and_exact_at_each_change(speeds: tuple[float, ...]) -> None:
    first, *later = speeds
    instants = [SIM_START + timedelta(seconds=1 + 7 * i, microseconds=3) for i in range(len(later))]
    changes = tuple(SpeedChange(at, speed) for at, speed in zip(instants, later, strict=True))
    anchor = SimAnchor(SIM_START, WALL_START, first, changes)
    for change in changes:
        wall = anchor.wall_at(change.at)
        assert anchor.sim_at(wall) == change.at
        walls = [wall + timedelta(microseconds=k) for k in range(-50, 51)]
        sims = [anchor.sim_at(w) for w in walls]
        assert sims == sorted(sims)
        back = [anchor.wall_at(s) for s in sims]
        assert back == sorted(back)
        # one sim microsecond is up to 1 / speed wall microseconds, and the other way round
        wall_tolerance = timedelta(microseconds=1 + 1 / min(speeds))
        sim_tolerance = timedelta(microseconds=1 + max(speeds))
        for w, s in zip(walls, sims, strict=True):
            assert abs(anchor.wall_at(s) - w) <= wall_tolerance
            assert abs(anchor.sim_at(anchor.wall_at(s)) - s) <= sim_tolerance


@pytest.mark.parametrize(
    "changes",
    [(), CHANGES, (SpeedChange(SIM_START + timedelta(microseconds=1), 2.5),)],
)
def test_a_piecewise_anchor_survives_an_encode_decode_round_trip(
    changes: tuple[SpeedChange, ...],
) -> None:
    anchor = SimAnchor(SIM_START, WALL_START, 3600, changes)
    text = anchor.encode()
    decoded = SimAnchor.decode(text)
    assert decoded == anchor and decoded.changes == changes
    assert decoded.encode() == text
    wall = WALL_START + timedelta(seconds=61, microseconds=7)
    assert decoded.sim_at(wall) == anchor.sim_at(wall)


def test_changes_are_encoded_as_speed_at_instant_after_the_old_three_fields() -> None:
    text = _piecewise().encode()
    assert text == (
        "2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|3600"
        "|60@2025-11-28T09:00:00-05:00|600@2025-11-28T10:00:00-05:00"
    )
    assert SimAnchor.decode(ENCODED).changes == ()  # the old format still reads


def test_two_processes_with_a_piecewise_anchor_read_the_same_time() -> None:
    wall = FakeWall(WALL_START + timedelta(seconds=45, microseconds=123))
    first = SimClock(_piecewise(), wall)
    second = SimClock(SimAnchor.from_env({SIM_ANCHOR_ENV: _piecewise().encode()}), wall)
    assert first.now() == second.now() == NINE + timedelta(seconds=44.000123 * 60)


def test_sleep_until_naps_the_wall_time_of_each_segment_it_crosses() -> None:
    wall = FakeWall(WALL_START)
    sleeper = FakeSleeper(wall)
    clock = SimClock(_piecewise(), wall, sleeper)
    clock.sleep_until(NINE + timedelta(seconds=90))  # one wall second to 09:00, then 1.5
    assert sleeper.naps == [1.0, 1.0, 0.5]
    assert clock.now() == NINE + timedelta(seconds=90)
    clock.sleep_until(TEN + timedelta(minutes=5))  # 58.5 wall seconds to 10:00, then 0.5
    assert sum(sleeper.naps[3:]) == pytest.approx(59.0)
    assert clock.now() == TEN + timedelta(minutes=5)


def test_sleep_until_wakes_at_once_for_a_deadline_passed_during_the_warm_up() -> None:
    wall = FakeWall(WALL_START - timedelta(seconds=5))
    sleeper = FakeSleeper(wall)
    clock = SimClock(_piecewise(), wall, sleeper)
    clock.sleep_until(SIM_START)
    assert sleeper.naps == []
    clock.sleep_until(SIM_START + timedelta(minutes=30))  # 5 s of warm-up, then 0.5 s
    assert sleeper.naps == [1.0] * 5 + [0.5]


def test_wait_until_crosses_a_change_to_a_slower_speed() -> None:
    start = datetime(2025, 11, 28, 13, 0, tzinfo=UTC)
    # x10000 for 100 sim seconds (10 wall ms), then x10: the deadline is 20 wall ms away
    anchor = SimAnchor.starting_now(start, 10_000)
    anchor = SimAnchor(
        start, anchor.wall_start, 10_000, (SpeedChange(start + timedelta(seconds=100), 10),)
    )
    clock = SimClock(anchor)
    deadline = start + timedelta(seconds=100.1)
    asyncio.run(clock.wait_until(deadline))
    assert clock.now() >= deadline


@pytest.mark.parametrize(
    ("changes", "expected_fragment"),
    [
        ([SpeedChange(NINE, 60)], "a tuple of SpeedChange"),
        (((NINE, 60),), "a tuple of SpeedChange"),
        ((SpeedChange(SIM_START, 60),), "an instant after 2025-11-28T13:00:00+00:00"),
        ((SpeedChange(SIM_START - timedelta(hours=1), 60),), "an instant after"),
        ((SpeedChange(TEN, 60), SpeedChange(NINE, 600)), "in time order"),
        ((SpeedChange(NINE, 60), SpeedChange(NINE, 600)), "an instant after"),
    ],
)
def test_speed_changes_out_of_order_are_refused(changes: object, expected_fragment: str) -> None:
    with pytest.raises(InvalidValue, match="sim anchor") as raised:
        SimAnchor(SIM_START, WALL_START, 60, changes)  # type: ignore[arg-type]
    assert expected_fragment in str(raised.value)
    assert "found" in str(raised.value)


@pytest.mark.parametrize(
    ("at", "speed", "expected_fragment"),
    [
        (datetime(2025, 11, 28, 9, 0), 60, "timezone-aware"),
        (NINE, 0, "greater than 0 and at most 100000"),
        (NINE, 200_000, "greater than 0 and at most 100000"),
        (NINE, True, "a number"),
        (NINE, "60", "a number"),
    ],
)
def test_a_bad_speed_change_is_refused_on_construction(
    at: datetime, speed: object, expected_fragment: str
) -> None:
    with pytest.raises(InvalidValue, match="sim anchor speed change") as raised:
        SpeedChange(at, speed)  # type: ignore[arg-type]
    assert expected_fragment in str(raised.value)


@pytest.mark.parametrize(
    ("suffix", "expected_fragment"),
    [
        ("|60", "speed change: expected '<speed>@<sim instant>'"),
        ("|", "speed change: expected '<speed>@<sim instant>'"),
        ("|60@", "speed change instant: expected an ISO 8601 datetime"),
        ("|60@soon", "speed change instant: expected an ISO 8601 datetime"),
        ("|60@2025-11-28T09:00:00", "speed change: expected a timezone-aware"),
        ("|fast@2025-11-28T09:00:00-05:00", "speed change speed: expected a number"),
        ("|nan@2025-11-28T09:00:00-05:00", "speed change speed: expected a finite number"),
        ("|0@2025-11-28T09:00:00-05:00", "greater than 0"),
        ("|60@2025-11-28T07:00:00-05:00", "an instant after"),
        ("|60@2025-11-28T09:00:00-05:00|6@2025-11-28T08:30:00-05:00", "in time order"),
    ],
)
def test_bad_speed_change_text_is_refused_saying_what_was_expected(
    suffix: str, expected_fragment: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        SimAnchor.decode(ENCODED + suffix)
    assert expected_fragment in str(raised.value)
    assert "found" in str(raised.value)


# --- openbell run: the sim clock's plan -------------------------------------------------------

HALF_DAY, MONDAY = date(2015, 12, 24), date(2015, 12, 28)


def _at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), ET)


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar.nyse(start=date(2015, 1, 1), end=date(2016, 12, 31))


def _settings(**env: str) -> Settings:
    environ = {f"OPENBELL__{key.upper()}": value for key, value in env.items()}
    return load_settings(None, dotenv_file=None, environ=environ).settings


def _plan(calendar: ExchangeCalendar, day: date, days: int | None, **env: str) -> RunPlan:
    settings = _settings(**env)
    return plan_run(settings, RunOptions(mode="sim", day=day, days=days, speed=1200), calendar)


def _anchor(plan: RunPlan) -> SimAnchor:
    return SimAnchor.decode(plan.env[SIM_ANCHOR_ENV])


def test_a_run_is_awake_speed_from_wake_to_sleep_and_fast_in_between(
    calendar: ExchangeCalendar,
) -> None:
    plan = _plan(calendar, HALF_DAY, 2)
    anchor = _anchor(plan)
    assert plan.first.trading_day == HALF_DAY
    assert plan.until == _at(MONDAY, "16:05:30")
    # default schedule: start at open - 95m, wake at open - 90m, sleep at close + 5m
    assert (anchor.sim_start, anchor.speed) == (_at(HALF_DAY, "07:55"), 10_000)
    assert anchor.changes == (
        SpeedChange(_at(HALF_DAY, "08:00"), 1200),
        SpeedChange(_at(HALF_DAY, "13:05"), 10_000),  # the half day's sleep
        SpeedChange(_at(MONDAY, "08:00"), 1200),  # then Christmas and a weekend, fast
    )
    assert isinstance(plan.clock, SimClock) and plan.clock.anchor == anchor
    # the holiday and the weekend pass in (91 h - 5 h 05 m) / 10 000, about 31 wall seconds
    asleep = anchor.wall_at(_at(MONDAY, "08:00")) - anchor.wall_at(_at(HALF_DAY, "13:05"))
    assert asleep == timedelta(hours=90, minutes=55) / 10_000


def test_a_slow_window_runs_from_slow_from_to_each_close(calendar: ExchangeCalendar) -> None:
    plan = _plan(calendar, HALF_DAY, 2, sim__slow_from="close - 40m", sim__slow_speed="60")
    anchor = _anchor(plan)
    assert anchor.changes == (
        SpeedChange(_at(HALF_DAY, "08:00"), 1200),
        SpeedChange(_at(HALF_DAY, "12:20"), 60),  # the half day closes at 13:00
        SpeedChange(_at(HALF_DAY, "13:00"), 1200),
        SpeedChange(_at(HALF_DAY, "13:05"), 10_000),
        SpeedChange(_at(MONDAY, "08:00"), 1200),
        SpeedChange(_at(MONDAY, "15:20"), 60),
        SpeedChange(_at(MONDAY, "16:00"), 1200),
    )
    # forty sim minutes before each close take forty wall seconds
    assert anchor.wall_at(_at(MONDAY, "16:00")) - anchor.wall_at(_at(MONDAY, "15:20")) == (
        timedelta(seconds=40)
    )


@pytest.mark.parametrize("slow_from", ["close + 5m", "open - 2h", "close"])
def test_a_slow_window_outside_the_wake_and_the_close_is_refused(
    calendar: ExchangeCalendar, slow_from: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _plan(calendar, MONDAY, 1, sim__slow_from=slow_from)
    message = str(caught.value)
    assert "sim.slow_from" in message and "a time from the wake (08:00 ET)" in message
    assert f"found {RelativeTime.parse(slow_from)}" in message


def test_a_run_that_starts_awake_starts_at_the_awake_speed(calendar: ExchangeCalendar) -> None:
    plan = _plan(calendar, MONDAY, 1, sim__start="open - 30m", sim__asleep_speed="5000")
    anchor = _anchor(plan)
    assert (anchor.sim_start, anchor.speed, anchor.changes) == (_at(MONDAY, "09:00"), 1200, ())


def test_a_run_from_a_holiday_starts_at_its_midnight_asleep(calendar: ExchangeCalendar) -> None:
    plan = _plan(calendar, date(2015, 12, 25), 1)
    anchor = _anchor(plan)
    assert plan.first.trading_day == MONDAY  # --days counts sessions from the next one
    assert plan.until == _at(MONDAY, "16:05:30")
    assert (anchor.sim_start, anchor.speed) == (_at(date(2015, 12, 25), "00:00"), 10_000)
    assert anchor.changes == (SpeedChange(_at(MONDAY, "08:00"), 1200),)


def test_an_open_ended_run_plans_30_sessions_then_keeps_the_awake_speed(
    calendar: ExchangeCalendar,
) -> None:
    plan = _plan(calendar, date(2015, 12, 26), None)
    anchor = _anchor(plan)
    assert plan.until is None and plan.first.trading_day == MONDAY
    wakes = [c for c in anchor.changes if c.speed == 1200]
    sleeps = [c for c in anchor.changes if c.speed == 10_000]
    assert (len(wakes), len(sleeps)) == (30, 29)
    assert anchor.changes[-1] == SpeedChange(_at(date(2016, 2, 9), "08:00"), 1200)


def test_the_speed_plan_merges_overlapping_windows_and_skips_no_op_changes(
    calendar: ExchangeCalendar,
) -> None:
    days = [calendar.session(day) for day in (MONDAY, date(2015, 12, 29))]
    plan = DayPlan(
        wake=RelativeTime.parse("open - 90m"),
        scan=RelativeTime.parse("open - 60m"),
        moo_submit=RelativeTime.parse("open - 5m"),
        flatten=RelativeTime.parse("close - 15m"),
        sleep=RelativeTime.parse("close + 20h"),  # past the next day's wake
    )
    timelines = [plan.resolve(session) for session in days]
    start = _at(MONDAY, "07:00")
    speed, changes = sim_speed_plan(timelines, start, awake_speed=600, asleep_speed=10_000)
    assert (speed, changes) == (10_000.0, (SpeedChange(_at(MONDAY, "08:00"), 600),))
    speed, changes = sim_speed_plan(timelines, start, awake_speed=600, asleep_speed=600)
    assert (speed, changes) == (600.0, ())


# --------------------------------------------------------------------------- --resume


def _settings_in(tmp_path: Path) -> Settings:
    return _settings(logging__directory=str(tmp_path / "logs"))


def test_a_resumed_sim_run_continues_the_recorded_clock_day_and_length(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    settings = _settings_in(tmp_path)
    original = plan_run(settings, RunOptions(mode="sim", day=MONDAY, days=2), calendar)
    path = record_sim_run(settings, original)
    assert path == tmp_path / "logs" / "sim-run.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    resumed = plan_run(settings, RunOptions(mode="sim", resume=True), calendar)
    assert resumed.anchor == original.anchor
    assert resumed.env[SIM_ANCHOR_ENV] == original.env[SIM_ANCHOR_ENV]
    assert (resumed.first, resumed.days, resumed.until) == (
        original.first,
        2,
        original.until,
    )
    # a new gateway on a new port, the same journal: it replays this run's orders
    assert resumed.gateway_argv is not None and original.gateway_argv is not None
    journal = resumed.gateway_argv.index("--journal")
    assert resumed.gateway_argv[journal + 1] == original.gateway_argv[journal + 1]


@pytest.mark.parametrize(
    ("options", "expected_fragment"),
    [
        (RunOptions(mode="sim", resume=True, day=MONDAY), "leave out --day"),
        (RunOptions(mode="sim", resume=True, days=1, speed=60), "leave out --days, --speed"),
        (RunOptions(mode="paper", resume=True), "in paper and live mode start 'openbell run'"),
    ],
)
def test_resume_refuses_options_that_would_change_the_recorded_run(
    tmp_path: Path, calendar: ExchangeCalendar, options: RunOptions, expected_fragment: str
) -> None:
    settings = _settings_in(tmp_path)
    record_sim_run(settings, plan_run(settings, RunOptions(mode="sim", day=MONDAY), calendar))
    with pytest.raises(RefusedInput, match=expected_fragment):
        plan_run(settings, options, calendar)


@pytest.mark.parametrize(
    ("text", "expected_fragment"),
    [
        (None, "no such file"),
        ("{not json", "JSONDecodeError"),
        ('{"anchor": "x|y", "first": "2015-12-28", "days": 1}', "OPENBELL_SIM_ANCHOR"),
        ('{"first": "2015-12-28", "days": 1}', "KeyError"),
        (f'{{"anchor": "{ENCODED}", "first": "2015-12-27", "days": 1}}', "no session on"),
        (f'{{"anchor": "{ENCODED}", "first": "2015-12-28", "days": 0}}', "days 0"),
        (f'{{"anchor": "{ENCODED}", "first": "2015-12-28", "days": true}}', "days True"),
        ("[1, 2]", "TypeError"),
    ],
)
def test_resume_refuses_a_missing_or_damaged_record_saying_what_it_found(
    tmp_path: Path, calendar: ExchangeCalendar, text: str | None, expected_fragment: str
) -> None:
    settings = _settings_in(tmp_path)
    if text is not None:
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / "sim-run.json").write_text(text)
    with pytest.raises(InvalidValue) as refused:
        plan_run(settings, RunOptions(mode="sim", resume=True), calendar)
    message = str(refused.value)
    assert "sim-run.json" in message and expected_fragment in message, message
