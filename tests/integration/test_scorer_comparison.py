"""The LLM and the rules compared on the same days: ``openbell backtest --scorer llm`` against
a local OpenAI-compatible server, then ``--scorer rules``, each with its pick quality."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from http_server import Reply, ScriptedServer, Seen
from openai_server import FakeOpenAI, answer, ok, symbol_of
from typer.testing import CliRunner

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.cli import app
from openbell.domain.enums import LlmOutcome

runner = CliRunner()
DAYS = [date(2016, 4, d) for d in (25, 26, 27, 28, 29)]


def likes_fcx(seen: Seen) -> Reply:
    symbol = symbol_of(seen)
    return ok(answer(0.9 if symbol == "FCX" else 0.3, rationale=f"{symbol}: a local opinion"))


@pytest.fixture
def local_llm() -> Iterator[FakeOpenAI]:
    with ScriptedServer() as server:
        llm = FakeOpenAI(server, "/v1")
        llm.answers(likes_fcx)
        yield llm


def backtest(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, object]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(app, ["backtest", *args, "-f", "json"], env=env)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.stdout + result.stderr
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_the_llm_and_the_rules_are_measured_on_the_same_days(
    tmp_path: Path, local_llm: FakeOpenAI
) -> None:
    provider = {
        "name": "local",
        "base_url": local_llm.base_url,
        "model": "fake-local",
        "api_key": "none",
    }
    env = {
        "OPENBELL__SCORING__PROVIDERS": json.dumps([provider]),
        "OPENBELL__SCORING__MAX_RETRIES": "0",
        "COLUMNS": "200",
    }
    span = ["--from", "2016-04-25", "--to", "2016-04-29"]
    llm = backtest([*span, "--scorer", "llm", "--out", "llm"], env, tmp_path)
    rules = backtest([*span, "--scorer", "rules", "--out", "rules"], env, tmp_path)

    [by_llm] = llm["pick_accuracy"]  # type: ignore[misc]
    [by_rules] = rules["pick_accuracy"]  # type: ignore[misc]
    assert by_llm["scorer"] == "local:fake-local" and by_rules["scorer"] == "rules-v1"
    # the local model only likes FCX, which is in the demo universe every day; the rules
    # pick by gap and volume: different picks, measured the same way
    assert by_llm["picks"] == "5"
    assert by_rules["picks"] != "0"

    ledger = SqliteLedger.open(
        tmp_path / "llm" / "ledger.sqlite",
        ManualClock(datetime(2000, 1, 1, tzinfo=UTC)),
        process="test",
    )
    try:
        for day in DAYS:
            calls = [c.call for c in ledger.llm_calls(day)]
            assert len(calls) == 10  # the funnel's top 10, one call each
            assert {c.outcome for c in calls} == {LlmOutcome.SCORED}
            [pick] = ledger.positions_of_day(day)
            assert pick.symbol.value == "FCX"
            assert pick.metadata["scorer"] == "local:fake-local"
    finally:
        ledger.close()
    assert len(local_llm.requests()) == 50
    # a local server needs no key: a placeholder is sent, never another provider's key
    assert {r.headers["authorization"] for r in local_llm.requests()} == {"Bearer not-needed"}


def test_a_backtest_never_writes_over_the_live_ledger(tmp_path: Path) -> None:
    live = tmp_path / "live" / "ledger.sqlite"
    live.parent.mkdir()
    live.write_bytes(b"the live ledger")
    env = {"OPENBELL__LEDGER__PATH": str(live), "COLUMNS": "200"}
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        span = ["--from", "2016-04-28", "--to", "2016-04-29", "--scorer", "rules"]
        result = runner.invoke(app, ["backtest", *span, "--out", str(live.parent)], env=env)
        kept = runner.invoke(app, ["backtest", *span, "--out", "elsewhere"], env=env)
    finally:
        os.chdir(old)
    assert result.exit_code == 2, result.stdout
    assert "a folder other than the live ledger's" in result.stderr
    assert live.read_bytes() == b"the live ledger"
    assert kept.exit_code == 0, kept.stdout + kept.stderr
    assert (tmp_path / "elsewhere" / "ledger.sqlite").stat().st_size > 0
    assert not list((tmp_path / "elsewhere").glob("*.part"))
