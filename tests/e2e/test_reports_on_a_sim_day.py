"""Every report on the ledger of a real simulated day, checked against the gateway's record.

One run of 2016-04-29 on the demo data (``demo_day``: supervisor, gateway and both bots as
processes, the VMD case included: 35 AMZN held outside the ledger), checked as a trading day,
then each ``openbell report`` command as a user runs it, in the run's folder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard import dashboard, dashboard_env
from demo_day import CONFIG as DEMO_CONFIG
from demo_day import DAY, check_the_undisturbed_demo_day
from http_server import Reply, ScriptedServer
from sim_day import SimRun, executions_at_gateway, pnl_of, sim_run

CONFIG = (
    DEMO_CONFIG
    + """
[dashboard]
start_with_run = true
port = 0
"""
)


TOKEN = "hook-token-3c9d51"


@pytest.fixture(scope="session")
def webhook() -> Iterator[ScriptedServer]:
    """Where the run's notifier posts (apprise json://), standing in for Telegram or Slack."""
    with ScriptedServer() as server:
        server.route("POST", f"/hook/{TOKEN}", Reply.json({"ok": True}))
        yield server


SECRETS = {
    "OPENBELL__SECRETS__DEEPSEEK_API_KEY": "sk-test-deepseek-7f3a9c01",
    "OPENBELL__SECRETS__GEMINI_API_KEY": "gm-test-gemini-2b6d0e44",
    "OPENBELL__SECRETS__MASSIVE_API_KEY": "ms-test-massive-91c0ab3f",
    "OPENBELL__SECRETS__FMP_API_KEY": "fmp-test-key-5d7e2a90",
    "OPENBELL__DASHBOARD__TOKEN": "dash-test-token-8c1f4b72",
}
"""Keys set for the run (from the environment, as a user's .env gives them): unused by a sim
day, they must still never reach a file the run leaves behind."""


# The session's, not the module's: a pytest-xdist worker that runs another module's test
# between two of these would otherwise run the day again.
@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory, webhook: ScriptedServer) -> SimRun:
    workdir = tmp_path_factory.mktemp("reports")
    host = webhook.url.removeprefix("http://")
    env = SECRETS | {"OPENBELL__NOTIFICATIONS__URLS": f'["json://{host}/hook/{TOKEN}"]'}
    notify = "\n[notifications]\ncooldown_s = 0\n"
    with sim_run(workdir, DAY, CONFIG + notify, extra_env=env) as run:
        run.finish()
    return run


def test_the_day_enters_at_the_open_protects_its_exits_and_ends_flat(day: SimRun) -> None:
    """The dashboard and the notifier ran along; the day's trading is the one nobody
    disturbed (``test_live_day.py`` runs it with its bots killed)."""
    check_the_undisturbed_demo_day(day)


def report(run: SimRun, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "openbell", "report", *args, "-f", "json"],
        cwd=run.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_pnl_equals_the_gateways_executions_to_the_cent(day: SimRun) -> None:
    pnl = report(day, "pnl", "--day", str(DAY))
    [summary] = pnl["summary"]
    assert Decimal(summary["total_pnl"]) == pnl_of(executions_at_gateway(day))
    assert (summary["trades"], summary["winners"], summary["losers"]) == ("2", "1", "1")
    trades = {t["symbol"]: t for t in pnl["trades"]}
    assert (trades["FCX"]["exit_reason"], trades["AMZN"]["exit_reason"]) == ("TARGET", "STOP")
    commissions = sum(Decimal(str(e["commission"])) for e in executions_at_gateway(day))
    assert Decimal(summary["commissions"]) == commissions.quantize(Decimal("0.01"))


def test_fills_are_the_gateways_executions_matched_into_round_trips(day: SimRun) -> None:
    fills = report(day, "fills", "--day", str(DAY))
    at_gateway = {str(e["exec_id"]): e for e in executions_at_gateway(day)}
    assert {f["execution_id"] for f in fills["fills"]} == set(at_gateway)
    for fill in fills["fills"]:
        execution = at_gateway[fill["execution_id"]]
        assert Decimal(fill["price"]) == Decimal(str(execution["price"]))
        assert int(fill["quantity"]) == int(float(str(execution["shares"])))
        assert fill["side"] == {"BOT": "BUY", "SLD": "SELL"}[str(execution["side"])]
        assert fill["order_ref"] == execution["order_ref"]
    trips = fills["round trips"]
    assert sum(Decimal(t["net"]) for t in trips) == pnl_of(executions_at_gateway(day))
    roles = {(t["symbol"], t["exit_role"]) for t in trips}
    assert roles == {("FCX", "TARGET"), ("AMZN", "STOP")}


def test_the_history_of_amzn_shows_openbell_sold_only_what_it_bought(day: SimRun) -> None:
    rows = report(day, "history", "AMZN")
    kinds = [r["kind"] for r in rows]
    assert kinds.index("SCAN_KEPT") < kinds.index("PLANNED") < kinds.index("ENTRY_FILL")
    assert kinds.index("ENTRY_FILL") < kinds.index("STOP_FILL") < kinds.index("CLOSED")
    bought = next(r for r in rows if r["kind"] == "ENTRY_FILL")["detail"]
    sold = next(r for r in rows if r["kind"] == "STOP_FILL")["detail"]
    shares = bought.split()[1]
    assert sold.startswith(f"SELL {shares} @") and "the position holds 0" in sold
    # the 35 shares held outside the ledger are not openbell's: the history never names them
    assert not any(r["detail"].split()[1:2] == "35" for r in rows if "FILL" in r["kind"])


def test_movement_is_the_picks_report(day: SimRun) -> None:
    movement = report(day, "movement", "--day", str(DAY))
    rows = {r["symbol"]: r for r in movement["picks"]}
    assert rows["FCX"]["target_from_entry"] == "yes" and rows["AMZN"]["exit"] == "STOP"


def test_targets_say_which_target_filled_and_how_close_the_other_came(day: SimRun) -> None:
    found = report(day, "targets", "--day", str(DAY), "--charts", "charts-out")
    rows = {r["symbol"]: r for r in found["targets"]}
    assert rows["FCX"]["outcome"].startswith("filled")
    assert "stop filled (OCA)" in rows["AMZN"]["outcome"]
    way = float(rows["AMZN"]["way_pct"])
    assert 0 < way < 100  # AMZN rose after the open but never reached +2.6 %
    answer = {r["metric"]: r["value"] for r in found["summary"]}["answer"]
    assert answer.startswith("1 of 2 targets were not reached")
    charts = day.workdir / "charts-out" / "charts"
    pngs = sorted(p.name for p in charts.glob("*.png"))
    assert len(pngs) == 3  # the target distances and one chart per trade
    assert all((charts / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pngs)
    page = (day.workdir / "charts-out" / f"targets-{DAY}.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "AMZN" in page


def test_health_shows_each_process_started_once_and_never_restarted(day: SimRun) -> None:
    found = report(day, "health", "--day", str(DAY))
    processes = {p["process"]: p for p in found["processes"]}
    for name in ("day-trader", "exit-manager"):
        assert (processes[name]["starts"], processes[name]["restarts"]) == ("1", "0")
        assert processes[name]["errors"] == "0"
    kinds = [t["kind"] for t in found["timeline"]]
    assert kinds.count("START") == 5  # the gateway, the notifier, the dashboard, both bots


def test_the_notifier_told_of_each_fill_and_kept_its_token_out_of_the_logs(
    day: SimRun, webhook: ScriptedServer
) -> None:
    posts = [r.json() for r in webhook.seen(f"/hook/{TOKEN}")]
    titles = [str(p["title"]) for p in posts]
    assert sum(t.startswith("FILL: bought") for t in titles) == 2
    assert any(t.startswith("TARGET") and "FCX" in t for t in titles)
    assert any(t.startswith("STOP") and "AMZN" in t for t in titles)
    assert not any("SKYX" in t for t in titles)
    for file in (f for f in (day.workdir / "var" / "logs").rglob("*") if f.is_file()):
        assert TOKEN.encode() not in file.read_bytes(), f"the webhook token leaked into {file}"
    assert TOKEN not in day.output()


def test_the_dashboard_ran_with_the_day_and_shows_the_ledgers_pnl(
    day: SimRun, tmp_path: Path
) -> None:
    out = day.output()
    assert re.search(r"dashboard at http://127\.0\.0\.1:\d+/", out)
    assert "live prices from IB at 127.0.0.1" in out  # its read-only client reached the gateway
    env = dashboard_env(tmp_path, ledger=day.ledger_path)
    with dashboard(tmp_path, env) as running:
        page = httpx.get(running.url + "/reports", params={"report": "pnl", "day": str(DAY)})
        today = httpx.get(running.url + "/history", params={"symbol": "AMZN"})
    assert page.status_code == 200
    total = re.search(r'<td data-col="total_pnl">(-?[0-9.]+)</td>', page.text)
    assert total is not None
    assert Decimal(total.group(1)) == pnl_of(executions_at_gateway(day))
    assert "data:image/png;base64," in page.text  # the realized P&L curve
    assert today.status_code == 200
    assert "STOP_FILL" in today.text


def test_no_secret_reaches_any_file_the_run_left(day: SimRun) -> None:
    """The ledger, every log, the gateway's journal, the run's output, the notifier's cursor
    and the reports written above: none holds a key, the dashboard token or the webhook's."""
    secrets = [v.encode() for v in SECRETS.values()] + [TOKEN.encode()]
    files = [p for p in day.workdir.rglob("*") if p.is_file() and p.name != "openbell.toml"]
    assert len(files) > 10
    assert any(p.name == "ledger.sqlite" for p in files)
    for path in files:
        data = path.read_bytes()
        leaked = [s.decode() for s in secrets if s in data]
        assert not leaked, f"{path.relative_to(day.workdir)} holds {leaked}"
