"""Run ``openbell dashboard`` as a real process on 127.0.0.1 and a ledger for it to show.

The dashboard picks a free port (``--port 0``) and prints its address; :func:`dashboard`
waits for that line in the process's output file (never a pipe: a full pipe would block it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.values import Confidence, Price, Quantity, Symbol
from openbell.services.rescans import Proposal

TOKEN = "test-dashboard-token-5f2c91aa"
DAY = date(2016, 4, 29)
_ADDRESS = re.compile(r"dashboard at (http://127\.0\.0\.1:\d+)/")


@dataclass
class RunningDashboard:
    url: str
    process: subprocess.Popen[bytes]
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def dashboard_env(
    workdir: Path, token: str | None = TOKEN, ledger: Path | None = None
) -> dict[str, str]:
    """The environment of a dashboard over ``ledger`` (default ``workdir/ledger.sqlite``),
    with no IB and no .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBELL")}
    env |= {
        "OPENBELL__LEDGER__PATH": str(ledger or workdir / "ledger.sqlite"),
        "OPENBELL__LOGGING__DIRECTORY": str(workdir / "logs"),
        "COLUMNS": "250",  # rich wraps messages at the terminal's width
    }
    if token is not None:
        env["OPENBELL__DASHBOARD__TOKEN"] = token
    return env


@contextmanager
def dashboard(
    workdir: Path, env: Mapping[str, str], *args: str, timeout_s: float = 30.0
) -> Iterator[RunningDashboard]:
    """Start ``openbell dashboard --port 0 --no-prices`` in ``workdir``; stop it after."""
    output = workdir / "dashboard.out"
    argv = [sys.executable, "-m", "openbell", "dashboard", "--port", "0", "--no-prices", *args]
    with output.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=workdir, env=dict(env), stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            found = _ADDRESS.search(output.read_text(errors="replace"))
            if found:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the dashboard did not start:\n{output.read_text()}")
            time.sleep(0.05)
        yield RunningDashboard(found.group(1), process, output)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def seed_ledger(path: Path) -> None:
    """A ledger of :data:`DAY` at 09:45 ET: FCX held (adopted, 1,000 @ 13.11) and two rescan
    requests waiting for a person (RCAT, BBAR), with the day-trader's heartbeat."""
    clock = ManualClock(datetime(2016, 4, 29, 13, 45, tzinfo=UTC))
    ledger = SqliteLedger.open(path, clock, process="day-trader")
    try:
        ledger.adopt(Symbol("FCX"), Quantity(1000), Price(Decimal("13.11")), "test holding", DAY)
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
        ledger.beat("running", "waiting for the open")
    finally:
        ledger.close()
