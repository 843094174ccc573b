"""The provider commands as a user runs them: ``openbell data fetch`` and ``openbell scan`` as
real processes against a local Massive-shaped server, with keys from the environment.

"Now" is pinned with the sim anchor, so a live provider's "today" is a known day.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from http_server import Reply, ScriptedServer

from openbell.adapters.bars.store import BarStore
from openbell.adapters.clock import SIM_ANCHOR_ENV, SimAnchor
from openbell.config import Settings
from openbell.domain.errors import RefusedInput
from openbell.domain.sessions import NEW_YORK
from openbell.runtime.scanning import check_scan_source

KEY = "mk-provider-commands-5e1f"
EXIT_REFUSED, EXIT_RETRY = 2, 75
DAYS = (date(2024, 6, 10), date(2024, 6, 11))


def ms(day: date, hour: int, minute: int = 0) -> int:
    return (
        int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK).timestamp())
        * 1000
    )


def daily_answer() -> dict[str, object]:
    results = [
        {
            "o": 10.0,
            "h": 10.6,
            "l": 9.9,
            "c": 10.5,
            "v": 1_200_000,
            "vw": 10.3,
            "t": ms(d, 0),
            "n": 900,
        }
        for d in DAYS
    ]
    return {
        "ticker": "AAA",
        "queryCount": 2,
        "resultsCount": 2,
        "adjusted": False,
        "results": results,
        "status": "OK",
        "request_id": "r1",
        "count": 2,
    }


@pytest.fixture
def massive() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def openbell(
    args: list[str], cwd: Path, server: ScriptedServer, *, key: str | None = KEY, now: datetime
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBELL")}
    env.update(
        {
            "OPENBELL__BROKER__MODE": "paper",
            "OPENBELL__SCANNER__SOURCE": "massive",
            "OPENBELL__SCANNER__MASSIVE_URL": server.url,
            "OPENBELL__SCANNER__MAX_RETRIES": "1",
            "OPENBELL__DATA__STORE": str(cwd / "store"),
            "OPENBELL__LEDGER__PATH": str(cwd / "ledger.sqlite"),
            "OPENBELL__SCANNER__CACHE_DIR": str(cwd / "cache"),
            SIM_ANCHOR_ENV: SimAnchor(now, datetime.now(UTC), 1.0).encode(),
            "COLUMNS": "200",
        }
    )
    if key is not None:
        env["OPENBELL__SECRETS__MASSIVE_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "openbell", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LATER = datetime(2024, 6, 13, 8, 0, tzinfo=NEW_YORK)


def test_data_fetch_fills_the_store_and_a_rerun_is_served_from_the_cache(
    tmp_path: Path, massive: ScriptedServer
) -> None:
    path = "/v2/aggs/ticker/AAA/range/1/day/2024-06-10/2024-06-11"
    massive.route("GET", path, Reply.json(daily_answer()))
    args = ["data", "fetch", "--source", "massive", "--symbols", "aaa"]
    args += ["--from", "2024-06-10", "--to", "2024-06-11", "--daily-only"]
    done = openbell(args, tmp_path, massive, now=LATER)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "massive: 2 daily rows" in done.stdout
    daily = BarStore(tmp_path / "store").daily("AAA")
    assert daily is not None and list(daily.close) == [10.5, 10.5]
    assert massive.seen(path)[0].headers["authorization"] == f"Bearer {KEY}"
    again = openbell(args, tmp_path, massive, now=LATER)
    assert again.returncode == 0
    assert len(massive.seen(path)) == 1  # the past days' answer came from the cache
    assert KEY not in done.stdout + done.stderr + again.stdout + again.stderr


def test_data_fetch_names_the_missing_key_and_reports_a_provider_down(
    tmp_path: Path, massive: ScriptedServer
) -> None:
    args = ["data", "fetch", "--source", "massive", "--symbols", "AAA"]
    args += ["--from", "2024-06-10", "--to", "2024-06-11", "--daily-only"]
    missing = openbell(args, tmp_path, massive, key=None, now=LATER)
    assert missing.returncode in (EXIT_REFUSED, EXIT_RETRY)
    assert "OPENBELL__SECRETS__MASSIVE_API_KEY" in missing.stdout + missing.stderr
    assert massive.requests == []  # nothing was sent without a key

    massive.otherwise(Reply.json({"status": "ERROR", "error": "down"}, 500))
    down = openbell(args, tmp_path, massive, now=LATER)
    assert down.returncode == EXIT_RETRY
    assert "failed AAA daily: massive" in down.stdout and "HTTP 500" in down.stdout
    assert len(massive.requests) == 2  # the first try and one retry (scanner.max_retries)
    assert KEY not in down.stdout + down.stderr


def test_data_fetch_through_today_skips_the_days_not_over_with_a_note(
    tmp_path: Path, massive: ScriptedServer
) -> None:
    massive.route(
        "GET", "/v2/aggs/ticker/AAA/range/1/day/2024-06-10/2024-06-12", Reply.json(daily_answer())
    )
    massive.otherwise(Reply.json({"ticker": "AAA", "resultsCount": 0, "status": "OK"}))
    args = ["data", "fetch", "--source", "massive", "--symbols", "AAA"]
    args += ["--from", "2024-06-10", "--to", "2024-06-14"]  # LATER is 2024-06-13 08:00 ET

    done = openbell(args, tmp_path, massive, now=LATER)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "note: 2 days not over yet, skipped (2024-06-13 to 2024-06-14)" in done.stdout
    assert "failed" not in done.stdout
    assert "massive: 2 daily rows" in done.stdout


def test_a_live_scan_that_cannot_reach_the_provider_says_so(
    tmp_path: Path, massive: ScriptedServer
) -> None:
    massive.otherwise(Reply.json({"status": "ERROR", "error": "overloaded"}, 503))
    now = datetime(2024, 6, 12, 8, 30, tzinfo=NEW_YORK)
    failed = openbell(["scan"], tmp_path, massive, now=now)
    assert failed.returncode == EXIT_RETRY, failed.stdout + failed.stderr
    assert "try again later: massive" in failed.stderr and "HTTP 503" in failed.stderr
    assert massive.requests and all(
        r.headers["authorization"] == f"Bearer {KEY}" for r in massive.requests
    )
    # a snapshot cannot tell a past day: refused before anything is asked
    asked = len(massive.requests)
    past = openbell(["scan", "--day", "2024-06-11"], tmp_path, massive, now=now)
    assert past.returncode == EXIT_REFUSED, past.stdout + past.stderr
    assert len(massive.requests) == asked
    assert KEY not in failed.stderr + past.stderr


def test_a_run_refuses_an_llm_chain_that_could_never_score() -> None:
    settings = Settings(
        broker={"mode": "paper"},
        scoring={"scorer": "llm", "fallback_to_rules": False},
    )
    with pytest.raises(RefusedInput, match="expected a provider with its key"):
        check_scan_source(settings, "paper")
    keyed = Settings(
        broker={"mode": "paper"},
        scoring={"scorer": "llm", "fallback_to_rules": False},
        secrets={"gemini_api_key": "g-key"},
    )
    check_scan_source(keyed, "paper")  # one provider can answer: accepted
    check_scan_source(Settings(scoring={"scorer": "llm"}), "sim")  # the rules back it up
