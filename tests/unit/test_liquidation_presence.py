"""Whether the exit-manager will serve a liquidation: read from its last heartbeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openbell.domain.records import Heartbeat
from openbell.services.liquidation import Presence, exit_manager_presence

NOW = datetime(2025, 10, 29, 15, 0, tzinfo=UTC)
SILENT_AFTER = timedelta(seconds=120)
LIVE_PID, DEAD_PID = 4242, 4343


def alive(pid: int) -> bool:
    return pid == LIVE_PID


def beat(status: str, age_s: float, pid: int = LIVE_PID) -> Heartbeat:
    return Heartbeat("exit-manager", pid, "0.1.0", status, NOW - timedelta(seconds=age_s))


@pytest.mark.parametrize(
    ("heartbeat", "expected"),
    [
        (None, Presence.ABSENT),
        (beat("running", 5), Presence.SERVING),
        (beat("running", 5, DEAD_PID), Presence.SERVING),  # fresh: a restart is due anyway
        (beat("connecting", 5), Presence.SERVING),
        (beat("reconnecting", 5), Presence.SERVING),
        (beat("retrying", 5), Presence.SERVING),
        (beat("starting", 5), Presence.SERVING),
        (beat("stopped", 5), Presence.ABSENT),
        (beat("stopped", 5000), Presence.ABSENT),
        (beat("running", 5000, DEAD_PID), Presence.ABSENT),  # crashed long ago
        (beat("running", 5000), Presence.SERVING),  # its pid lives: a sim clock, or hung
        (beat("halted", 5), Presence.HALTED),
        (beat("halted", 5000, DEAD_PID), Presence.ABSENT),
        (beat("running", -30, DEAD_PID), Presence.SERVING),  # a clock a little ahead
    ],
)
def test_presence_follows_status_freshness_and_pid(
    heartbeat: Heartbeat | None, expected: Presence
) -> None:
    assert exit_manager_presence(heartbeat, NOW, SILENT_AFTER, alive) is expected


def test_the_freshness_limit_is_silent_after() -> None:
    edge = beat("running", 120, DEAD_PID)
    assert exit_manager_presence(edge, NOW, SILENT_AFTER, alive) is Presence.SERVING
    past = beat("running", 120.5, DEAD_PID)
    assert exit_manager_presence(past, NOW, SILENT_AFTER, alive) is Presence.ABSENT
