"""`openbell run` end to end, as a user runs it: a real process, then the ledger it left."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.enums import ExitReason, PositionRole, PositionState
from openbell.domain.values import Symbol

HALF_DAY = date(2025, 11, 28)


def test_run_leaves_a_consistent_ledger_and_never_touches_the_protected_holding(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "OPENBELL__LEDGER__PATH": str(tmp_path / "unused.sqlite"),
        "COLUMNS": "160",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openbell",
            "rehearse",
            "--day",
            HALF_DAY.isoformat(),
            "--workdir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "12:45" in result.stdout  # the half day flattens at close - 15m
    ledger = SqliteLedger.open(
        tmp_path / f"rehearsal-{HALF_DAY}.sqlite",
        ManualClock(datetime(2025, 11, 28, tzinfo=UTC)),
        process="check",
    )
    positions = ledger.positions_of_day(HALF_DAY)
    assert {p.symbol.value for p in positions} == {"WULF", "BBAR", "RCAT"}
    assert all(p.role is PositionRole.MASTER for p in positions)
    assert all(p.state is PositionState.CLOSED and p.held_quantity == 0 for p in positions)
    assert all(p.exit_reason is ExitReason.TARGET for p in positions)
    targets = {p.symbol.value: p.target_pct for p in positions}
    assert targets["RCAT"] is not None and targets["RCAT"] < targets["WULF"]  # 0.74 → +1.8%
    assert not ledger.is_active(Symbol("SKYX"))
    refusals = [e for e in ledger.events(limit=1000) if e.kind == "REFUSED"]
    assert [e.symbol for e in refusals] == [Symbol("SKYX")]
    assert not (tmp_path / "unused.sqlite").exists()  # the user's ledger is left alone
