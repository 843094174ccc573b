"""`openbell backtest`, `backtest sweep` and `data` as a user runs them, on real files."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openbell.cli import EXIT_REFUSED, app

runner = CliRunner()
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
PNG = b"\x89PNG\r\n\x1a\n"


def invoke(args: list[str], tmp_path: Path, **extra_env: str) -> tuple[int, str, str]:
    env = {
        "OPENBELL__DATA__STORE": str(tmp_path / "bars"),
        "COLUMNS": "220",
        "OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
        **extra_env,
    }
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, args, env=env)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def demo_week(tmp_path: Path, out: str, *options: str, **env: str) -> dict[str, Any]:
    """`openbell backtest -f json` over the demo's week of 2016-04-25; the parsed output."""
    args = [
        "backtest",
        "--from",
        "2016-04-25",
        "--to",
        "2016-04-29",
        "--out",
        str(tmp_path / out),
        "-f",
        "json",
        *options,
    ]
    code, stdout, stderr = invoke(args, tmp_path, **env)
    assert code == 0, stderr
    result: dict[str, Any] = json.loads(stdout)
    return result


def test_backtest_on_the_bundled_demo_data_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = demo_week(tmp_path, "report")
    summary, trades = result["summary"], result["trades"]
    assert summary["trades"] == len(trades) > 0
    rounding = 0.005 * len(trades)  # each row shows its P&L to the cent
    assert sum(float(t["pnl"]) for t in trades) == pytest.approx(
        float(summary["pnl"]), abs=rounding
    )
    assert all(t["reason"] in ("TARGET", "STOP", "FLATTEN") for t in trades)
    assert summary["synthetic_trades"] == sum(t["path"] == "synthetic" for t in trades)
    assert "synthetic intraday paths" in result["note"]
    assert (out / "equity.png").read_bytes().startswith(PNG)
    charts = sorted((out / "charts").glob("*.png"))
    assert len(charts) == len(trades)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Summary" in page and page.count("data:image/png;base64") == len(trades) + 1


def test_the_demo_week_through_the_simulated_gateway_trades_the_same(tmp_path: Path) -> None:
    # CliRunner runs in this thread: the gateway path sets (and clears) its own event loop.
    direct = demo_week(tmp_path, "direct")
    wired = demo_week(tmp_path, "wired", "--via-gateway")
    assert wired["trades"] == direct["trades"]
    assert wired["summary"] == direct["summary"]


def test_late_entry_and_moo_differ_on_the_same_days(tmp_path: Path) -> None:
    moo = demo_week(tmp_path, "moo", "--entry", "moo")["trades"]
    late = demo_week(tmp_path, "late", "--entry", "late:60m")["trades"]
    assert {t["entry"] for t in moo} == {"09:30"}
    assert {t["entry"] for t in late} == {"10:30"}


def test_bad_backtest_options_are_refused(tmp_path: Path) -> None:
    for args, word in (
        (["--entry", "soon"], "late:60m"),
        (["--symbols", "NOPE"], "NOPE"),
        (["--stop", "abc"], "--stop"),
        (["--stop", "-0.9"], "a positive percentage"),
        (["--stop", "0"], "a positive percentage"),
        (["--target", "nan"], "a positive percentage"),
        (["--target", "+2.6%", "--stop", "150"], "between 0 and 100"),
        (["--from", "2016-13-01"], "YYYY-MM-DD"),
        (["--data", "cloud"], "demo"),
    ):
        code, _, stderr = invoke(["backtest", *args, "--out", str(tmp_path / "x")], tmp_path)
        assert code in (EXIT_REFUSED, 2), (args, stderr)
        assert word in stderr, (args, stderr)


def test_sweep_runs_a_grid_in_parallel_and_writes_a_heatmap(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    code, _, stderr = invoke(
        [
            "backtest",
            "sweep",
            "--from",
            "2016-04-25",
            "--to",
            "2016-04-27",
            "--targets",
            "1.8,2.6",
            "--stops",
            "0.9",
            "--entries",
            "moo,late:30m",
            "--workers",
            "2",
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert code == 0, stderr
    with (out / "sweep.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["entry"], r["target_pct"]) for r in rows] == [
        ("moo", "1.8"),
        ("moo", "2.6"),
        ("late:30m", "1.8"),
        ("late:30m", "2.6"),
    ]
    assert (out / "heatmap.png").read_bytes().startswith(PNG)


@pytest.mark.skipif(not REAL.is_dir(), reason="real data not found")
def test_data_import_then_list_then_backtest_from_the_store(tmp_path: Path) -> None:
    files = [
        REAL / "react-stockcharts" / "AAPL_INTRA_DAY.tsv",
        REAL / "lean" / "equity" / "usa" / "daily" / "aapl.zip",
    ]
    code, stdout, stderr = invoke(["data", "import", *map(str, files)], tmp_path)
    assert code == 0, stderr
    assert "21 symbol-days" in stdout
    code, stdout, _ = invoke(["data", "list", "--format", "json"], tmp_path)
    kinds = {(r["symbol"], r["kind"], r["basis"]) for r in json.loads(stdout)}
    assert kinds == {("AAPL", "minute", "raw"), ("AAPL", "daily", "raw")}
    code, stdout, stderr = invoke(
        [
            "backtest",
            "--data",
            "store",
            "--from",
            "2016-04-27",
            "--to",
            "2016-04-27",
            "--target",
            "1.0",
            "--stop",
            "0.5",
            "--out",
            str(tmp_path / "r"),
            "-f",
            "json",
        ],
        tmp_path,
    )
    assert code == 0, stderr


def test_a_bad_bar_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "nt-spy-minute-bad.csv"
    bad.write_text("20110103 143100;126.71;126.79;126.7;126.75;1000\n20110103 143200;oops\n")
    code, _, stderr = invoke(["data", "import", str(bad)], tmp_path)
    assert code == EXIT_REFUSED
    assert "line 2" in stderr


def test_the_commission_plan_comes_from_the_settings(tmp_path: Path) -> None:
    pnl = {
        plan: float(demo_week(tmp_path, plan, OPENBELL__VENUE__COMMISSION=plan)["summary"]["pnl"])
        for plan in ("fixed", "tiered")
    }
    # The same trades, but IBKR's tiered plan ($0.0035/share, $0.35 minimum) costs less than
    # the fixed one ($0.005/share, $1 minimum) at these sizes.
    assert pnl["tiered"] > pnl["fixed"]
