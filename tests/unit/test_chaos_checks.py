"""The chaos harness's judgement of invariant 4 (``benchmarks/chaos.py``)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from openbell.domain.records import LedgerEvent

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"


@pytest.fixture(scope="module")
def chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


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
