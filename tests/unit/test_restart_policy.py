"""The restart backoff: doubling delays, a cap, and a fresh start after a stable run."""

from __future__ import annotations

import math

import pytest

from openbell.domain.errors import InvalidValue
from openbell.runtime.children import RestartPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _crash(policy: RestartPolicy, clock: FakeClock, ran_s: float = 0.5) -> float:
    policy.started()
    clock.now_s += ran_s
    return policy.exited()


def test_delays_double_up_to_the_cap() -> None:
    clock = FakeClock()
    policy = RestartPolicy(now=clock)
    assert policy.attempts == 0
    delays = [_crash(policy, clock) for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert policy.attempts == 9


def test_a_stable_run_starts_the_backoff_over() -> None:
    clock = FakeClock()
    policy = RestartPolicy(initial_s=0.5, factor=3.0, max_s=10.0, stable_after_s=300.0, now=clock)
    assert [_crash(policy, clock) for _ in range(3)] == [0.5, 1.5, 4.5]
    assert _crash(policy, clock, ran_s=299.9) == 10.0
    assert _crash(policy, clock, ran_s=300.0) == 0.5
    assert policy.attempts == 1
    assert _crash(policy, clock) == 1.5
    assert policy.attempts == 2


def test_an_exit_without_a_start_counts_as_an_instant_crash() -> None:
    clock = FakeClock()
    policy = RestartPolicy(now=clock)
    policy.started()
    clock.now_s += 1000.0
    assert policy.exited() == 1.0
    clock.now_s += 1000.0
    assert policy.exited() == 2.0  # no new start was noted, so no stable run either


def test_factor_one_keeps_a_constant_delay_and_many_crashes_never_overflow() -> None:
    clock = FakeClock()
    constant = RestartPolicy(initial_s=5.0, factor=1.0, max_s=5.0, now=clock)
    assert {_crash(constant, clock) for _ in range(10)} == {5.0}
    steep = RestartPolicy(factor=1e300, max_s=1e308, now=clock)
    assert [_crash(steep, clock) for _ in range(3000)][-1] == 1e308


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"initial_s": 0.0}, "initial_s"),
        ({"initial_s": -1.0}, "initial_s"),
        ({"initial_s": math.nan}, "initial_s"),
        ({"initial_s": math.inf, "max_s": math.inf}, "initial_s"),
        ({"factor": 0.5}, "factor"),
        ({"factor": math.nan}, "factor"),
        ({"initial_s": 10.0, "max_s": 5.0}, "max_s"),
        ({"stable_after_s": 0.0}, "stable_after_s"),
        ({"stable_after_s": math.nan}, "stable_after_s"),
    ],
)
def test_arguments_are_validated(arguments: dict[str, float], named: str) -> None:
    with pytest.raises(InvalidValue, match=f"{named}: expected .*, found") as raised:
        RestartPolicy(**arguments)  # type: ignore[arg-type]
    found, given = raised.value.found, arguments[named]
    assert found == given or (math.isnan(found) and math.isnan(given))
