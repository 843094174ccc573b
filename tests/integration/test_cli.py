"""The command line, driven in-process through typer's runner and as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openbell.cli import EXIT_ALERT, EXIT_REFUSED, app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
        "OPENBELL__PROTECTION__PROTECTED_SYMBOLS": '["SKYX"]',
        "OPENBELL__SECRETS__LLM_API_KEY": "sk-do-not-print",
        "COLUMNS": "200",
    }


def invoke(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)  # settings look for ./openbell.toml and ./.env; keep them out of the repo
    try:
        result = runner.invoke(app, args, env=env)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def test_config_show_masks_secrets_and_names_origins(env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = invoke(["config", "show", "--format", "json"], env, tmp_path)
    assert code == 0
    rows = {row["key"]: row for row in json.loads(out)}
    assert rows["ledger.path"]["origin"] == "environment OPENBELL__LEDGER__PATH"
    assert rows["secrets.llm_api_key"]["value"] == "********"
    assert rows["strategy.stop_loss_pct"]["origin"] == "default"
    assert "sk-do-not-print" not in out


def test_config_check_lists_every_problem(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[strategy]\nstop_loss_pct = -0.9\n[schedule]\nscan = "open - 90x"\n')
    code, _, err = invoke(["config", "check", str(bad)], env, tmp_path)
    assert code == EXIT_REFUSED
    assert "2 problems" in err
    assert "strategy.stop_loss_pct" in err and "schedule.scan" in err
    good = tmp_path / "good.toml"
    good.write_text("[strategy]\ntop_n = 2\n")
    assert invoke(["config", "check", str(good)], env, tmp_path)[0] == 0


def test_adopt_list_release_and_events(env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = invoke(
        ["positions", "adopt", "vmd", "--qty", "35", "--price", "6.84", "--reason", "mine", "-y"],
        env,
        tmp_path,
    )
    assert code == 0, err
    assert "adopted VMD" in out
    code, out, _ = invoke(["positions", "--format", "csv"], env, tmp_path)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["view"], r["symbol"], r["state"], r["held"]) for r in rows] == [
        ("active", "VMD", "OPEN", "35")
    ]
    code, out, _ = invoke(["positions", "--format", "json"], env, tmp_path)
    assert json.loads(out)[0]["entry_price"] == "6.84"
    code, out, _ = invoke(["positions"], env, tmp_path)
    assert "active positions" in out and "VMD" in out
    assert invoke(["positions", "release", "VMD", "--yes"], env, tmp_path)[0] == 0
    code, out, _ = invoke(["ledger", "events", "--format", "json"], env, tmp_path)
    assert [e["kind"] for e in json.loads(out)] == ["ADOPTED", "RELEASED"]


def test_adopt_is_refused_for_protected_and_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    base = ["positions", "adopt"]
    code, _, err = invoke(
        [*base, "SKYX", "--qty", "182", "--price", "1.20", "--reason", "x", "-y"], env, tmp_path
    )
    assert code == EXIT_REFUSED and "protected_symbols" in err
    code, _, err = invoke(
        [*base, "VMD", "--qty", "-5", "--price", "1", "--reason", "x", "-y"], env, tmp_path
    )
    assert code == EXIT_REFUSED and "quantity" in err
    code, _, err = invoke(
        [*base, "VMD", "--qty", "5", "--price", "abc", "--reason", "x", "-y"], env, tmp_path
    )
    assert code == EXIT_REFUSED and "price" in err
    code, _, err = invoke(
        [*base, "not a ticker", "--qty", "5", "--price", "1", "--reason", "x"], env, tmp_path
    )
    assert code == EXIT_REFUSED and "symbol" in err
    code, _, err = invoke(["positions", "release", "NOPE", "--yes"], env, tmp_path)
    assert code == EXIT_REFUSED and "NOPE" in err
    _, out, _ = invoke(["positions", "--format", "json"], env, tmp_path)
    assert json.loads(out) == []


def test_adopt_without_a_terminal_needs_yes(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = invoke(
        ["positions", "adopt", "VMD", "--qty", "1", "--price", "1", "--reason", "x"], env, tmp_path
    )
    assert code == EXIT_REFUSED and "--yes" in err


def test_a_corrupt_ledger_stops_with_an_alert(env: dict[str, str], tmp_path: Path) -> None:
    Path(env["OPENBELL__LEDGER__PATH"]).write_bytes(b"garbage" * 1000)
    code, _, err = invoke(["positions"], env, tmp_path)
    assert code == EXIT_ALERT and "stop:" in err


def test_calendar_shows_a_half_day(env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = invoke(["calendar", "2025-11-28"], env, tmp_path)
    assert code == 0
    assert "early close" in out
    assert "12:45:00" in out  # flatten at close - 15m on a 13:00 close
    code, _, err = invoke(["calendar", "2025-12-25"], env, tmp_path)
    assert code == EXIT_REFUSED and "2025-12-25" in err


def test_run_rehearses_a_day_and_says_what_it_did(env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = invoke(
        ["rehearse", "--day", "2025-11-28", "--workdir", str(tmp_path / "run")], env, tmp_path
    )
    assert code == 0, err
    assert "early close" in out
    assert "refusing to adopt SKYX" in out
    assert "realized P&L" in out
    assert (tmp_path / "run" / "rehearsal-2025-11-28.sqlite").exists()


def test_python_dash_m_openbell_runs_as_a_real_process(env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openbell", "config", "show", "--format", "json"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    keys = {row["key"] for row in json.loads(result.stdout)}
    assert "protection.protected_symbols" in keys


def test_version_is_the_installed_package_version(env: dict[str, str], tmp_path: Path) -> None:
    from importlib.metadata import version as installed  # noqa: PLC0415

    import openbell  # noqa: PLC0415

    code, out, _ = invoke(["version"], env, tmp_path)
    assert code == 0
    assert out.strip() == openbell.__version__ == installed("openbell")
    with pytest.raises(AttributeError):
        _ = openbell.no_such_attribute  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--fault", "meltdown@09:45"], "a kind among drop"),
        (["--fault", "drop at ten"], "KIND@[YYYY-MM-DDT]HH:MM"),
        (["--fault", "drop@25:00"], "a valid time"),
        (["--day", "2016-04-16"], "2016-04-16"),  # a Saturday: no session
        (["--day", "15/04/2016"], "YYYY-MM-DD"),
        (["--symbols", "NOPE"], "NOPE"),
        (["--host", "0.0.0.0"], "loopback"),
        (["--hold", "SKYX 182"], "SYMBOL:QTY@PRICE"),
    ],
)
def test_the_gateway_refuses_bad_options_clearly(
    env: dict[str, str], tmp_path: Path, args: list[str], expected: str
) -> None:
    base = ["gateway", "--port", "0", "--day", "2016-04-15", "--symbols", "AAPL"]
    code, _, err = invoke([*base, *args], env, tmp_path)
    assert code == EXIT_REFUSED
    assert expected in err


@pytest.mark.parametrize(
    ("args", "settings", "why"),
    [
        (["--mode", "live"], {"OPENBELL__BROKER__ACCOUNT": "U1234567"}, "live_opt_in"),
        (
            ["--mode", "live"],
            {"OPENBELL__BROKER__ACCOUNT": "U1234567", "OPENBELL__BROKER__LIVE_OPT_IN": "true"},
            "pass --live",
        ),
        (["--mode", "paper"], {"OPENBELL__BROKER__PORT": "4001"}, "needs the IB account id"),
        (
            ["--mode", "paper"],
            {"OPENBELL__BROKER__ACCOUNT": "DU1234567", "OPENBELL__BROKER__PORT": "4001"},
            "a live port",
        ),
        (["--mode", "demo"], {}, "expected sim, paper or live"),
    ],
)
def test_run_refuses_a_mode_port_or_account_that_disagree(
    env: dict[str, str], tmp_path: Path, args: list[str], settings: dict[str, str], why: str
) -> None:
    code, out, err = invoke(["run", *args], env | settings, tmp_path)
    assert code == EXIT_REFUSED, out + err
    assert why in err
    # refused before anything started: no ledger opened, no log written
    assert not (tmp_path / "ledger.sqlite").exists()
    assert not (tmp_path / "var" / "logs").exists()
