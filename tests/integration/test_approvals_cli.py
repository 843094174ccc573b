"""``openbell approvals``: a person lists, approves and rejects rescan requests in the ledger."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.cli import EXIT_REFUSED, app
from openbell.domain.values import Confidence, Price, Symbol
from openbell.services.rescans import Proposal, approval_step

DAY = date(2016, 4, 29)
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"), "COLUMNS": "250"}


def invoke(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)  # keep ./openbell.toml and ./.env out of the repository
    try:
        result = runner.invoke(app, args, env=env)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def requests(path: Path) -> SqliteLedger:
    """A ledger with two rescan requests (RCAT, BBAR) made at 09:45 ET."""
    clock = ManualClock(datetime(2016, 4, 29, 13, 45, tzinfo=UTC))
    ledger = SqliteLedger.open(path, clock, process="day-trader")
    for symbol in ("RCAT", "BBAR"):
        proposal = Proposal(
            Symbol(symbol),
            Confidence(Decimal("0.85")),
            Price(Decimal("20.5")),
            Decimal("2.6"),
            "rules",
            "gap +4%",
            clock.now(),
        )
        ledger.request_approval(DAY, proposal.symbol, proposal.to_request())
    return ledger


def test_list_shows_what_waits_with_its_expiry(env: dict[str, str], tmp_path: Path) -> None:
    requests(tmp_path / "ledger.sqlite").close()
    code, out, _ = invoke(["approvals", "list", "--format", "json"], env, tmp_path)
    assert code == 0
    rows = json.loads(out)
    assert [(r["id"], r["symbol"], r["status"]) for r in rows] == [
        ("1", "RCAT", "PENDING"),
        ("2", "BBAR", "PENDING"),
    ]
    assert rows[0]["requested"] == "09:45 ET"
    assert rows[0]["request"].startswith("buy RCAT at market: confidence 0.85, last 20.5")
    assert rows[0]["outcome"] == "waiting for a person; expires 09:55 ET"


def test_approve_and_reject_are_recorded_with_who_decided(
    env: dict[str, str], tmp_path: Path
) -> None:
    ledger = requests(tmp_path / "ledger.sqlite")
    code, out, _ = invoke(["approvals", "approve", "1", "--wait-s", "0"], env, tmp_path)
    assert code == 0
    assert "approved request 1: buy RCAT" in out
    assert "has not acted on it yet" in out
    assert invoke(["approvals", "reject", "2"], env, tmp_path)[0] == 0
    first, second = ledger.approvals(DAY)
    assert (first.status, second.status) == ("APPROVED", "REJECTED")
    assert first.decided_by is not None and first.decided_by.startswith("cli:")
    # what the day-trader did shows in the day's list
    ledger.mark_step(DAY, approval_step(1), "entered")
    code, out, _ = invoke(["approvals", "list", "--day", "2016-04-29", "-f", "json"], env, tmp_path)
    outcomes = [r["outcome"] for r in json.loads(out)]
    assert outcomes[0] == "entered" and outcomes[1].startswith("rejected by cli:")
    code, out, _ = invoke(["approvals", "list"], env, tmp_path)
    assert code == 0 and "no rescan requests waiting" in out
    ledger.close()


def test_approve_waits_for_the_day_trader_when_asked(env: dict[str, str], tmp_path: Path) -> None:
    ledger = requests(tmp_path / "ledger.sqlite")
    ledger.mark_step(DAY, approval_step(1), "refused: closed earlier today: no re-entry")
    code, out, _ = invoke(["approvals", "approve", "1", "--wait-s", "1"], env, tmp_path)
    assert code == 0
    assert "day-trader: refused: closed earlier today: no re-entry" in out
    ledger.close()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["approvals", "approve", "2"], "expected one waiting for a decision, found REJECTED"),
        (["approvals", "approve", "9"], "approval 9: expected a recorded request, found none"),
        (["approvals", "reject", "0"], ""),
    ],
)
def test_bad_decisions_are_refused(
    env: dict[str, str], tmp_path: Path, args: list[str], expected: str
) -> None:
    ledger = requests(tmp_path / "ledger.sqlite")
    ledger.decide_approval(2, False, "alice")
    code, _, err = invoke(args, env, tmp_path)
    assert code == EXIT_REFUSED
    assert expected in err
    assert [a.status for a in ledger.approvals(DAY)] == ["PENDING", "REJECTED"]
    ledger.close()
