"""``openbell scan`` over the replayed demo pre-market, and ``openbell report picks`` over a
ledger with real positions and the demo's bars."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from entries import moo_filled
from typer.testing import CliRunner

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.cli import EXIT_REFUSED, app
from openbell.domain.enums import PositionRole
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Confidence, Quantity, Symbol

runner = CliRunner()
DAY = date(2016, 4, 29)
OPEN = datetime.combine(DAY, time(9, 30), NEW_YORK)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
        "OPENBELL__PROTECTION__PROTECTED_SYMBOLS": '["FCX"]',
        "COLUMNS": "250",
    }


def invoke(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(app, args, env=env)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def test_scan_lists_every_symbol_with_its_rank_or_reason(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["OPENBELL__SCANNER__TOP_K"] = "3"
    env["OPENBELL__SCANNER__MIN_GAP_PCT"] = "-1"
    code, out, err = invoke(
        ["scan", "--day", "2016-04-29", "--at", "08:30", "--format", "json"], env, tmp_path
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["at"] == "2016-04-29T08:30:00-04:00"
    rows = {r["symbol"]: r for r in payload["rows"]}
    assert len(rows) == 40  # the demo universe, every symbol accounted for
    kept = [r["symbol"] for r in payload["rows"] if r["rank"]]
    assert kept == ["AMZN", "AMD", "MU"]  # FCX is protected: it never reaches the ranking
    assert rows["FCX"]["dropped"] == "protected symbol"
    assert rows["GILD"]["dropped"].startswith("gap -4.22% outside -1%..")
    assert rows["NFLX"]["dropped"] == "below the top 3"
    assert payload["drops"] == {
        "protected": 1,
        "gap": sum(1 for r in rows.values() if r["dropped"].startswith("gap")),
        "rank": sum(1 for r in rows.values() if r["dropped"] == "below the top 3"),
    }
    # the features are the replayed pre-market's: AMZN gapped +8 % on its earnings
    assert rows["AMZN"]["gap_pct"] == "+8.03" and rows["AMZN"]["pre_volume"] == "264282"

    code, table, _ = invoke(["scan", "--day", "2016-04-29", "--kept-only"], env, tmp_path)
    assert code == 0
    assert "AMZN" in table and "GILD" not in table and "3 kept" in table


def test_scan_refuses_bad_times_and_days(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = invoke(["scan", "--day", "2016-04-29", "--at", "25:00"], env, tmp_path)
    assert code == EXIT_REFUSED and "expected HH:MM" in err
    code, _, err = invoke(["scan", "--day", "2016-04-30"], env, tmp_path)
    assert code == EXIT_REFUSED and "no session on 2016-04-30" in err
    code, _, err = invoke(["scan", "--day", "April"], env, tmp_path)
    assert code == EXIT_REFUSED and "expected a date YYYY-MM-DD" in err


def _traded(ledger: SqliteLedger, symbol: str, qty: int, entry: str, target: str) -> Position:
    planned = Position(
        DAY,
        Symbol(symbol),
        PositionRole.MASTER,
        Quantity(qty),
        confidence=Confidence(Decimal("0.85")),
        target_pct=Decimal(target),
        stop_loss_pct=Decimal("0.9"),
        metadata={"scorer": "deepseek:deepseek-chat"},
    )
    return moo_filled(ledger, planned, entry, OPEN, ref=f"{symbol}-e", execution_id=f"{symbol}.1")


def test_report_picks_measures_each_pick_from_the_open_and_from_our_entry(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["OPENBELL__PROTECTION__PROTECTED_SYMBOLS"] = "[]"
    ledger = SqliteLedger.open(
        Path(env["OPENBELL__LEDGER__PATH"]), ManualClock(OPEN), process="test"
    )
    _traded(ledger, "FCX", 100, "13.11", "1.8")
    _traded(ledger, "AMZN", 10, "666.00", "2.6")
    ledger.close()
    code, out, err = invoke(["report", "picks", "--day", "2016-04-29", "-f", "json"], env, tmp_path)
    assert code == 0, err
    report = json.loads(out)
    rows = {r["symbol"]: r for r in report["picks"]}
    fcx, amzn = rows["FCX"], rows["AMZN"]
    # the demo's regular session: FCX opened 13.11 and reached 14.06 (+7.25 %)
    assert (fcx["open"], fcx["high"], fcx["open_to_high_pct"]) == ("13.1100", "14.0600", "+7.25")
    assert (fcx["target_from_open"], fcx["target_from_entry"]) == ("yes", "yes")
    assert (amzn["open_to_high_pct"], amzn["target_from_open"]) == ("+0.60", "no")
    assert fcx["scorer"] == "deepseek:deepseek-chat" and fcx["exit"] == "OPEN"
    [accuracy] = report["accuracy"]
    assert accuracy["scorer"] == "deepseek:deepseek-chat"
    assert accuracy["target_from_open"] == "1/2 (50%)"
    assert accuracy["moved_3pct_from_open"] == "1/2 (50%)"
    assert accuracy["mean_open_to_high_pct"] == "+3.92"


def test_report_picks_refuses_ambiguous_ranges(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = invoke(
        ["report", "picks", "--day", "2016-04-29", "--from", "2016-04-28"], env, tmp_path
    )
    assert code == EXIT_REFUSED and "found both" in err
    code, _, err = invoke(["report", "picks", "--from", "2016-04-28"], env, tmp_path)
    assert code == EXIT_REFUSED and "both --from and --to" in err
    code, _, err = invoke(
        ["report", "picks", "--from", "2016-04-29", "--to", "2016-04-28"], env, tmp_path
    )
    assert code == EXIT_REFUSED and "on or after" in err


def test_a_pick_without_bars_says_so(env: dict[str, str], tmp_path: Path) -> None:
    ledger = SqliteLedger.open(
        Path(env["OPENBELL__LEDGER__PATH"]), ManualClock(OPEN), process="test"
    )
    _traded(ledger, "ZZZZ", 10, "5.00", "2.6")
    ledger.close()
    code, out, _ = invoke(["report", "picks", "--day", "2016-04-29", "-f", "json"], env, tmp_path)
    assert code == 0
    [row] = json.loads(out)["picks"]
    assert (row["open"], row["target_from_open"], row["entry"]) == ("-", "-", "5.0000")
    assert json.loads(out)["accuracy"][0]["with_bars"] == "0"
