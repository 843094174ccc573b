"""The chaos harness's own judgements (``benchmarks/chaos.py``): invariant 4, outage times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from script_modules import load_script

from openbell.domain.records import LedgerEvent


@pytest.fixture(scope="module")
def chaos() -> ModuleType:
    return load_script("benchmarks/chaos.py", "chaos_harness")


def alert(**facts: Any) -> LedgerEvent:
    at = datetime(2016, 4, 12, 19, 48, tzinfo=UTC)
    data = {"stage": "flatten", "positions": [{"symbol": "MU", "held": 2854}], **facts}
    return LedgerEvent(1, at, "supervisor", "NOT_FLAT", "MU 2,854 sh still held", data=data)


LEFT = ["MU position 7 is OPEN", "MU: 2854 shares left"]


def test_not_flat_without_an_alert_is_a_violation(chaos: ModuleType) -> None:
    violations, excused = chaos.judge_not_flat(LEFT, [])
    assert violations == [*LEFT, "and no NOT_FLAT alert was raised"] and excused == []


def test_not_flat_with_the_gateway_up_is_a_violation_even_alerted(chaos: ModuleType) -> None:
    up = alert(exit_manager={"running": True, "status": "running"}, gateway_running=True)
    violations, excused = chaos.judge_not_flat(LEFT, [up])
    assert violations[:2] == LEFT and "the gateway was up" in violations[2] and excused == []


@pytest.mark.parametrize(
    "facts",
    [
        {"exit_manager": {"running": True, "status": "running"}, "gateway_running": False},
        {"exit_manager": {"running": True, "status": "reconnecting"}, "gateway_running": True},
        {"exit_manager": {"running": True, "status": "connecting"}},
    ],
)
def test_not_flat_with_the_gateway_down_and_alerted_is_excused(
    chaos: ModuleType, facts: dict[str, Any]
) -> None:
    violations, excused = chaos.judge_not_flat(LEFT, [alert(**facts)])
    assert violations == [] and excused == [*LEFT, "MU 2,854 sh still held"]


def link(event_id: int, minute: int, process: str, kind: str, child: str = "") -> LedgerEvent:
    at = datetime(2016, 4, 8, 13, 30, tzinfo=UTC) + timedelta(minutes=minute)
    data = {"process": child, "pid": event_id} if child else {}
    return LedgerEvent(event_id, at, process, kind, kind.lower(), data=data)


def per_sim_minute(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


def test_an_outage_is_timed_from_its_disconnect_to_its_reconnect(chaos: ModuleType) -> None:
    events = [
        link(1, 0, "exit-manager", "DISCONNECTED"),
        link(2, 1, "day-trader", "DISCONNECTED"),
        link(3, 4, "exit-manager", "RECONNECTED"),
        link(4, 9, "day-trader", "RECONNECTED"),
    ]
    assert chaos.link_outages(events, per_sim_minute) == [4.0, 8.0]


def test_an_outage_whose_life_ended_is_not_paired_with_a_later_one(chaos: ModuleType) -> None:
    """Day 11 of a 30-day run (seed 202): the exit-manager lost IB as the supervisor was
    killed, its life ended cut off, and its next life's first outage came hours later."""
    events = [
        link(1, 0, "exit-manager", "DISCONNECTED"),
        link(2, 24, "supervisor", "START", "gateway"),
        link(3, 25, "supervisor", "START", "exit-manager"),
        link(4, 200, "exit-manager", "DISCONNECTED"),
        link(5, 240, "exit-manager", "RECONNECTED"),
    ]
    assert chaos.link_outages(events, per_sim_minute) == [40.0]


def test_sim_time_turns_to_wall_time_at_each_speed(chaos: ModuleType) -> None:
    to_wall = chaos.sim_to_wall(date(2016, 4, 8), 600.0, 100.0)  # slow from 15:20 New York
    at = datetime(2016, 4, 8, 19, 0, tzinfo=UTC)  # 15:00
    assert to_wall(at, at + timedelta(minutes=10)) == pytest.approx(1.0)
    assert to_wall(at + timedelta(minutes=30), at + timedelta(minutes=40)) == pytest.approx(6.0)
    assert to_wall(at + timedelta(minutes=10), at + timedelta(minutes=30)) == pytest.approx(7.0)
