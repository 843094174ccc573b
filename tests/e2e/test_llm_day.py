"""A whole simulated day scored by the LLM chain, through real processes and real HTTP.

The day-trader (a real subprocess) scores the funnel's candidates through the openai SDK
against two OpenAI-compatible providers served on 127.0.0.1 by this test: "deepseek" is
down (503) and "gemini" answers, so the chain's fallback is exercised in a real run. Gemini
likes FCX and AMZN, answers AMD with prose and sees no long trade in MU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from http_server import Reply, ScriptedServer, Seen
from openai_server import FakeOpenAI, answer, error, ok, symbol_of
from sim_day import check_against_the_gateway, sim_run

from openbell.domain.enums import LlmOutcome

DAY = date(2016, 4, 29)
DEEPSEEK_KEY = "sk-e2e-deepseek-7f3a91c2"
GEMINI_KEY = "sk-e2e-gemini-0b84d5e6"


def gemini_answer(seen: Seen) -> Reply:
    symbol = symbol_of(seen)
    if symbol == "FCX":
        return ok(answer(0.9, rationale="copper rally, gap on heavy volume"))
    if symbol == "AMZN":
        return ok(answer(0.85, rationale="earnings gap up"))
    if symbol == "AMD":
        return ok("AMD looks interesting but I would wait for the open.")
    if symbol == "MU":
        return ok(answer(0.6, direction="short", rationale="fading memory prices"))
    return ok(answer(0.4, rationale="nothing special"))


@pytest.fixture
def providers() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with ScriptedServer() as server:
        deepseek, gemini = FakeOpenAI(server, "/deepseek/v1"), FakeOpenAI(server, "/gemini/v1")
        deepseek.answers(error(503, "overloaded"))
        gemini.answers(gemini_answer)
        yield deepseek, gemini


def config(deepseek: FakeOpenAI, gemini: FakeOpenAI) -> str:
    return f"""
[scoring]
scorer = "llm"
timeout_s = 10
deadline_s = 30  # below the harness's runtime.silent_after_s (60)
max_retries = 0
concurrency = 4

[[scoring.providers]]
name = "deepseek"
base_url = "{deepseek.base_url}"
model = "deepseek-chat"
api_key = "deepseek_api_key"

[[scoring.providers]]
name = "gemini"
base_url = "{gemini.base_url}"
model = "gemini-2.5-flash"
api_key = "gemini_api_key"
"""


def test_a_sim_day_scored_by_the_llm_chain(
    tmp_path: Path, providers: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    deepseek, gemini = providers
    secrets = {
        "OPENBELL__SECRETS__DEEPSEEK_API_KEY": DEEPSEEK_KEY,
        "OPENBELL__SECRETS__GEMINI_API_KEY": GEMINI_KEY,
    }
    with sim_run(tmp_path, DAY, config(deepseek, gemini), extra_env=secrets) as run:
        out = run.finish()
    positions = check_against_the_gateway(run, (DAY,))
    by_symbol = {p.symbol.value: p for p in positions}
    assert sorted(by_symbol) == ["AMZN", "FCX"]
    fcx = by_symbol["FCX"]
    assert fcx.metadata["scorer"] == "gemini:gemini-2.5-flash"
    assert (fcx.confidence and fcx.confidence.value, fcx.target_pct) == (
        Decimal("0.9"),
        Decimal("2.6"),
    )
    assert fcx.exit_reason == "TARGET"

    ledger = run.ledger()
    try:
        calls = [c.call for c in ledger.llm_calls(DAY)]
        events = ledger.events(limit=10_000)
    finally:
        ledger.close()
    failed = [c for c in calls if c.provider == "deepseek"]
    assert failed and {c.outcome for c in failed} == {LlmOutcome.FAILED}
    assert all("503" in c.reason for c in failed)
    outcomes = {c.symbol.value: c.outcome for c in calls if c.provider == "gemini"}
    assert len(outcomes) == 10  # the funnel's top 10, each scored once by the second provider
    assert outcomes["FCX"] is outcomes["AMZN"] is LlmOutcome.SCORED
    assert (outcomes["AMD"], outcomes["MU"]) == (LlmOutcome.INVALID, LlmOutcome.NO_TRADE)
    scored = [c for c in calls if c.outcome is LlmOutcome.SCORED]
    assert all(c.prompt_version == "v1" and len(c.prompt_hash) == 64 for c in scored)
    assert all(c.prompt_tokens > 0 and c.raw_answer for c in scored)
    unscored = {e.symbol.value for e in events if e.kind == "UNSCORED" and e.symbol}
    assert unscored == {"AMD", "MU"}
    assert [e for e in events if e.kind == "SCAN"]
    # the keys were sent, each to its own provider only
    assert deepseek.requests()[0].headers["authorization"] == f"Bearer {DEEPSEEK_KEY}"
    assert {r.headers["authorization"] for r in gemini.requests()} == {f"Bearer {GEMINI_KEY}"}
    # and they appear in no log, no output and nowhere in the ledger file
    files = [*(tmp_path / "var" / "logs").rglob("*"), tmp_path / "run.out", run.ledger_path]
    for file in (f for f in files if f.is_file()):
        content = file.read_bytes()
        for key in (DEEPSEEK_KEY, GEMINI_KEY):
            assert key.encode() not in content, f"{key} leaked into {file}"
    assert "FCX" in out

    report = subprocess.run(
        [sys.executable, "-m", "openbell", "report", "picks", "--day", str(DAY), "-f", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    picks = json.loads(report.stdout)
    rows = {r["symbol"]: r for r in picks["picks"]}
    assert rows["FCX"]["scorer"] == "gemini:gemini-2.5-flash"
    assert (rows["FCX"]["target_from_open"], rows["FCX"]["exit"]) == ("yes", "TARGET")
    assert rows["AMZN"]["target_from_open"] == "no"
    assert picks["accuracy"][0]["target_from_open"] == "1/2 (50%)"
