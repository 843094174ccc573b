"""The dashboard as a real process on 127.0.0.1 over a real ledger file, its read-only
ledger connection, and its live prices from a simulated gateway over loopback.

What a person does in a browser is in ``tests/e2e/test_dashboard_browser.py``; here are the
HTTP answers a script or a bad request gets, and the parts under the pages.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from broker_harnesses import GatewayHarness
from dashboard import DAY, TOKEN, RunningDashboard, dashboard, dashboard_env, seed_ledger

from openbell.adapters.clock import ManualClock
from openbell.adapters.ib.broker import IbBroker, IbConnection
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.bars.frame import DayBars, to_ns
from openbell.domain.errors import LedgerUnavailable
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import Price, Symbol
from openbell.venue import FixedCommission, NoSlippage, VenueConfig
from openbell.web.prices import IbPriceBook


def reader_clock() -> ManualClock:
    return ManualClock(datetime(2000, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDashboard]:
    workdir = tmp_path_factory.mktemp("dashboard")
    seed_ledger(workdir / "ledger.sqlite")
    with dashboard(workdir, dashboard_env(workdir)) as running:
        yield running


def ledger_of(board: RunningDashboard) -> SqliteLedger:
    return SqliteLedger.open(board.output.parent / "ledger.sqlite", reader_clock(), process="test")


# --------------------------------------------------------------------------- HTTP answers


def test_pages_answer_with_security_headers_and_no_caching(board: RunningDashboard) -> None:
    for path in ("/today", "/approvals", "/reports", "/history", "/kill", "/login"):
        response = httpx.get(board.url + path)
        assert response.status_code == 200, (path, response.text[:300])
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src" not in csp  # default-src 'none': no script may run at all
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    assert httpx.get(board.url + "/healthz").json() == {"status": "ok"}
    today = httpx.get(board.url + "/today").text
    assert "FCX" in today
    assert "2 rescan" in today  # RCAT and BBAR wait for a person


def test_a_script_acts_with_the_bearer_token_and_is_recorded_as_such(
    board: RunningDashboard,
) -> None:
    wrong = httpx.post(
        board.url + "/approvals/2/reject", headers={"Authorization": "Bearer not-the-token"}
    )
    assert wrong.status_code == 401
    ledger = ledger_of(board)
    try:
        assert ledger.approval(2).status == "PENDING"
        right = httpx.post(
            board.url + "/approvals/2/reject", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert right.status_code == 303  # then to the request's page: a reload decides nothing
        assert right.headers["location"] == "/approvals/2"
        shown = httpx.get(board.url + "/approvals/2")
        assert "request 2 (BBAR) REJECTED by dashboard:token@127.0.0.1" in shown.text
        decided = ledger.approval(2)
        assert decided.status == "REJECTED"
        assert decided.decided_by == "dashboard:token@127.0.0.1"
        again = httpx.post(
            board.url + "/approvals/2/approve", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert again.status_code == 409
        assert "found REJECTED by dashboard:token@127.0.0.1" in again.text
        assert ledger.approval(2).status == "REJECTED"
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        ("/reports?report=bogus", 400, "report: expected one of pnl, fills, targets"),
        ("/reports?report=pnl&amp;day=29-04-2016", 400, "day: expected YYYY-MM-DD"),
        ("/reports?report=pnl&day=2016-04-29&to=2016-04-01", 400, "to: expected on or after"),
        ("/reports?report=pnl&day=2014-01-01&to=2016-01-01", 400, "at most a year"),
        ("/history?symbol=%3Cscript%3E", 400, "symbol: expected"),
        ("/approvals/99/approve", 405, ""),
        ("/approvals/99999999999999999999999", 422, "approval_id: "),
        ("/approvals/abc", 422, "approval_id: "),
        ("/nowhere", 404, ""),
    ],
)
def test_bad_input_gets_a_clear_refusal_and_the_dashboard_goes_on(
    board: RunningDashboard, path: str, status: int, expected: str
) -> None:
    response = httpx.get(board.url + path.replace("&amp;", "&"))
    assert response.status_code == status
    assert expected in response.text
    assert "<script>" not in response.text  # what was typed comes back escaped
    assert httpx.get(board.url + "/today").status_code == 200


def test_an_unknown_request_id_is_not_found(board: RunningDashboard) -> None:
    response = httpx.post(
        board.url + "/approvals/99/approve", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 404


def test_odd_cookies_and_fields_are_refused_plainly_and_never_echoed(
    board: RunningDashboard,
) -> None:
    cookie = "openbell_session=1.a.\xe9".encode("latin-1")  # not ASCII, as a browser may send
    odd = httpx.get(board.url + "/today", headers={"Cookie": cookie})
    assert odd.status_code == 200  # an unreadable session is no session, not an error
    assert "Log in" in odd.text
    typed = "my-real-token-typed-in-the-wrong-box-" + "x" * 600
    long = httpx.post(board.url + "/login", data={"token": typed})
    assert long.status_code == 422
    assert "token: " in long.text
    assert typed not in long.text
    assert long.headers["x-frame-options"] == "DENY"


def test_the_kill_switch_asked_twice_writes_one_liquidation(tmp_path: Path) -> None:
    seed_ledger(tmp_path / "ledger.sqlite")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with dashboard(tmp_path, dashboard_env(tmp_path)) as running:
        for _ in range(2):  # a double click, or a reload that posts again
            done = httpx.post(running.url + "/kill", data={"confirm": "KILL"}, headers=bearer)
            assert done.status_code == 303
            assert done.headers["location"] == "/kill"
        page = httpx.get(running.url + "/kill").text
    assert "The kill switch is ON since" in page
    assert "Liquidation request 1 (LIQUIDATE_MANAGED) PENDING" in page
    ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", reader_clock(), process="test")
    try:
        assert [r.request_id for r in ledger.pending_requests()] == [1]
        assert ledger.controls()["kill_switch"].enabled
    finally:
        ledger.close()


def test_wrong_bearer_tokens_lock_out_their_sender_for_a_minute(tmp_path: Path) -> None:
    seed_ledger(tmp_path / "ledger.sqlite")
    with dashboard(tmp_path, dashboard_env(tmp_path)) as running:
        url = running.url + "/approvals/1/reject"
        for _ in range(5):
            wrong = httpx.post(url, headers={"Authorization": "Bearer guess-guess-guess-1"})
            assert wrong.status_code == 401
        right = httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 429  # even the right token waits: guessing is slowed
        login = httpx.post(running.url + "/login", data={"token": TOKEN})
        assert login.status_code == 429
        assert "wrong bearer token" in running.log()
    ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", reader_clock(), process="test")
    try:
        assert ledger.approval(1).status == "PENDING"
    finally:
        ledger.close()


def test_reports_render_their_tables_for_a_day(board: RunningDashboard) -> None:
    pnl = httpx.get(board.url + "/reports", params={"report": "pnl", "day": str(DAY)})
    assert pnl.status_code == 200
    assert 'data-table="trades"' in pnl.text
    assert 'data-table="summary"' in pnl.text
    health = httpx.get(board.url + "/reports", params={"report": "health", "day": str(DAY)})
    assert health.status_code == 200
    assert 'data-table="processes"' in health.text
    assert "day-trader" in health.text
    weekend = httpx.get(board.url + "/reports", params={"report": "fills", "day": "2016-04-30"})
    assert weekend.status_code == 200
    assert "no trading day in that range" in weekend.text


# --------------------------------------------------------------------------- the process


def test_a_taken_port_and_a_public_address_without_a_token_are_refused_at_start(
    board: RunningDashboard, tmp_path: Path
) -> None:
    port = board.url.rsplit(":", 1)[1]
    env = dashboard_env(tmp_path)
    taken = subprocess.run(
        [sys.executable, "-m", "openbell", "dashboard", "--port", port, "--no-prices"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert taken.returncode != 0
    assert f"expected to listen on 127.0.0.1:{port}, found it unavailable" in taken.stderr
    public = subprocess.run(
        [sys.executable, "-m", "openbell", "dashboard", "--host", "0.0.0.0", "--no-prices"],
        cwd=tmp_path,
        env=dashboard_env(tmp_path, token=None),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert public.returncode != 0
    assert "expected a loopback address without dashboard.token, found 0.0.0.0" in public.stderr


def test_the_token_never_reaches_the_dashboards_output(board: RunningDashboard) -> None:
    httpx.post(board.url + "/login", data={"token": TOKEN}, follow_redirects=False)
    httpx.post(board.url + "/login", data={"token": TOKEN + "-wrong"})
    time.sleep(0.2)
    log = board.log()
    assert "dashboard login from 127.0.0.1" in log
    assert "login refused from 127.0.0.1" in log
    assert TOKEN not in log


# --------------------------------------------------------------------------- read-only ledger


def test_the_read_only_ledger_reads_a_live_file_and_refuses_every_write(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    seed_ledger(path)
    writer = SqliteLedger.open(path, reader_clock(), process="supervisor")
    reader = SqliteLedger.open_read_only(path, reader_clock(), process="dashboard")
    try:
        assert [a.symbol for a in reader.approvals(pending_only=True)] == [
            Symbol("RCAT"),
            Symbol("BBAR"),
        ]
        writer.set_control("entries_paused", True, "test")  # WAL: the reader sees new commits
        assert reader.controls()["entries_paused"].enabled
        with pytest.raises(LedgerUnavailable, match="readonly"):
            reader.set_control("kill_switch", True, "from a reader")
        with pytest.raises(LedgerUnavailable):
            reader.decide_approval(1, True, "reader")
        assert "kill_switch" not in writer.controls()
        assert writer.approval(1).status == "PENDING"
    finally:
        reader.close()
        writer.close()


def test_the_read_only_ledger_refuses_what_is_not_a_current_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailable, match="found nothing"):
        SqliteLedger.open_read_only(tmp_path / "absent.sqlite", reader_clock(), process="d")
    assert not (tmp_path / "absent.sqlite").exists()  # nothing was created
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    with pytest.raises(LedgerUnavailable, match="another SQLite database"):
        SqliteLedger.open_read_only(other, reader_clock(), process="d")
    old = tmp_path / "old.sqlite"
    seed_ledger(old)
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(LedgerUnavailable, match="found schema version 1"):
        SqliteLedger.open_read_only(old, reader_clock(), process="d")
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1  # left as it was
    conn.close()


# --------------------------------------------------------------------------- live prices

PRICE_DAY = date(2025, 10, 29)


def _at(hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(2025, 10, 29, hour, minute, tzinfo=NEW_YORK)


def _wulf() -> DayBars:
    """10.00 for the first five minutes of the session, then 10.35."""
    rows = [(10.0, 10.05, 9.98, 10.02)] * 5 + [(10.35,) * 4] * 385
    o, h, lo, c = (np.array(column) for column in zip(*rows, strict=True))
    starts = np.array([to_ns(_at("09:30")) + i * 60_000_000_000 for i in range(390)])
    return DayBars("WULF", PRICE_DAY, 60, starts, o, h, lo, c, np.full(390, 1e6))


def _wait_for(check: object, timeout_s: float = 10.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_live_prices_follow_the_tape_over_a_read_only_client_and_vanish_when_ib_does() -> None:
    venue = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())
    session = Session(PRICE_DAY, _at("09:30"), _at("16:00"))
    h = GatewayHarness(_at("09:00"), session, {"WULF": _wulf()}, venue)
    connection = IbConnection(port=h.server.port, client_id=30, readonly=True, timeout_s=5)
    book = IbPriceBook(lambda: IbBroker(connection, h.clock), f"127.0.0.1:{h.server.port}")
    wulf = Symbol("WULF")
    try:
        book.start()
        book.watch([wulf])
        _wait_for(lambda: "live prices from IB" in book.status())
        _wait_for(lambda: len(h.server.gateway.market.subscriptions) == 1)
        h.advance_to(_at("09:31"))
        _wait_for(lambda: book.price(wulf) is not None)
        assert book.price(wulf) in {Price.from_float(p, 4) for p in (10.0, 9.98, 10.05, 10.02)}
        h.advance_to(_at("09:40"))
        _wait_for(lambda: book.price(wulf) == Price.from_float(10.35, 4))
        book.watch([])  # the page no longer shows WULF: the book lets it go
        _wait_for(lambda: book.price(wulf) is None)
        _wait_for(lambda: not h.server.gateway.market.subscriptions)
        book.watch([wulf])
        _wait_for(lambda: len(h.server.gateway.market.subscriptions) == 1)
        h.server.run(h.server.gateway.close)  # IB goes away: no stale price is shown
        _wait_for(lambda: "no live prices" in book.status())
        assert book.price(wulf) is None
    finally:
        book.stop()
        h.close()
