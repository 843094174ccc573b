"""The Clock contract, run against every Clock implementation.

Real clocks wait only milliseconds: deadlines are 20 ms ahead by the clock under test, and
the SimClock runs at 1000x, so its 20 sim-ms are 20 wall-µs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from openbell.adapters.clock import ManualClock, SimAnchor, SimClock, SystemClock
from openbell.domain.errors import InvalidValue
from openbell.ports import Clock

SHORT = timedelta(milliseconds=20)
INSTANT_RETURN_SECONDS = 0.25


def _system() -> Clock:
    return SystemClock()


def _manual() -> Clock:
    return ManualClock(datetime(2025, 11, 28, 13, 30, tzinfo=UTC))


def _sim() -> Clock:
    anchor = SimAnchor.starting_now(datetime(2025, 11, 28, 8, 0, tzinfo=UTC), speed=1000)
    return SimClock(anchor)


@pytest.fixture(params=[_system, _manual, _sim], ids=["system", "manual", "sim"])
def clock(request: pytest.FixtureRequest) -> Clock:
    factory: Callable[[], Clock] = request.param
    return factory()


def test_now_is_timezone_aware(clock: Clock) -> None:
    assert clock.now().utcoffset() is not None


def test_now_never_goes_backwards(clock: Clock) -> None:
    readings = [clock.now() for _ in range(1000)]
    assert readings == sorted(readings)


def test_sleep_until_a_past_deadline_returns_at_once(clock: Clock) -> None:
    before = clock.now()
    started = time.monotonic()
    clock.sleep_until(before - timedelta(hours=1))
    assert time.monotonic() - started < INSTANT_RETURN_SECONDS
    assert clock.now() >= before


def test_sleep_until_a_future_deadline_returns_at_or_after_it(clock: Clock) -> None:
    deadline = clock.now() + SHORT
    clock.sleep_until(deadline)
    assert clock.now() >= deadline


def test_wait_until_a_past_deadline_returns_at_once(clock: Clock) -> None:
    before = clock.now()
    started = time.monotonic()
    asyncio.run(clock.wait_until(before - timedelta(hours=1)))
    assert time.monotonic() - started < INSTANT_RETURN_SECONDS
    assert clock.now() >= before


def test_wait_until_a_future_deadline_returns_at_or_after_it(clock: Clock) -> None:
    deadline = clock.now() + SHORT
    asyncio.run(clock.wait_until(deadline))
    assert clock.now() >= deadline


def test_wait_until_lets_other_tasks_run(clock: Clock) -> None:
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async def main() -> None:
        task = asyncio.create_task(other())
        await clock.wait_until(clock.now() + SHORT)
        ran.append("waited")
        await task

    asyncio.run(main())
    assert ran == ["other", "waited"]


def test_a_naive_deadline_is_refused(clock: Clock) -> None:
    with pytest.raises(InvalidValue, match="timezone-aware"):
        clock.sleep_until(datetime(2025, 11, 28, 9, 30))
