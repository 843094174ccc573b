"""Run ``openbell run --mode sim`` as a real process tree and read what it left behind.

The supervisor, the simulated gateway and both bots are separate processes on loopback, the
ledger a real SQLite file. The gateway's journal (every order it received, every execution)
is the ground truth the tests check the ledger against.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.positions import Position
from openbell.venue.tws.journal import executions_pnl, read_journal

FAST_RUNTIME = """
[runtime]
tick_s = 0.05
heartbeat_s = 0.3
check_awake_s = 0.5
check_asleep_s = 0.5
silent_after_s = 60
restart_initial_s = 0.3
restart_max_s = 2
stop_grace_s = 5

[ledger]
path = "var/ledger.sqlite"

[logging]
directory = "var/logs"
"""


@dataclass
class SimRun:
    """One ``openbell run`` in ``workdir``; use :func:`sim_run` to start and stop it."""

    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def ledger_path(self) -> Path:
        return self.workdir / "var" / "ledger.sqlite"

    @property
    def journal(self) -> list[dict[str, object]]:
        return read_journal(self.workdir / "var" / "logs" / "gateway-journal.jsonl")

    def ledger(self) -> SqliteLedger:
        """A reader of the run's ledger (its clock is only used to stamp its own writes)."""
        clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
        return SqliteLedger.open(self.ledger_path, clock, process="test")

    def ledger_ready(self) -> bool:
        """Whether the supervisor has switched the new ledger file to WAL mode.

        Until then, a second process opening the file can make the supervisor's (or its own)
        switch to WAL fail at once with "database is locked": SQLite does not wait there.
        """
        try:
            with self.ledger_path.open("rb") as file:
                header = file.read(20)
        except FileNotFoundError:
            return False
        return header[18:20] == b"\x02\x02"  # the read and write format versions: 2 is WAL

    def wait_for(
        self, what: str, check: Callable[[SqliteLedger], bool], timeout_s: float = 90
    ) -> None:
        """Poll the ledger until ``check`` holds (the run must still be going)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the run ended before {what}:\n{self.output()}")
            if self.ledger_ready():
                ledger = self.ledger()
                try:
                    if check(ledger):
                        return
                finally:
                    ledger.close()
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def pid_of(self, process: str) -> int:
        ledger = self.ledger()
        try:
            return next(b.pid for b in ledger.heartbeats() if b.process == process)
        finally:
            ledger.close()

    def finish(self, timeout_s: float = 240) -> str:
        self.process.wait(timeout=timeout_s)
        out = self.output()
        assert self.process.returncode == 0, out[-6000:]
        return out

    def output(self) -> str:
        path = self.workdir / "run.out"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@contextmanager
def sim_run(
    workdir: Path,
    day: date,
    config: str,
    speed: float = 600,
    extra: tuple[str, ...] = (),
    *,
    extra_env: Mapping[str, str] | None = None,
    days: int = 1,
) -> Iterator[SimRun]:
    """Start ``openbell run --mode sim --day DAY --days DAYS`` in ``workdir``; always clean up.

    ``extra_env`` adds to (or overrides) the run's environment, e.g. ``PYTHONPATH``.
    """
    (workdir / "openbell.toml").write_text(FAST_RUNTIME + config, encoding="utf-8")
    argv = ["--day", day.isoformat(), "--days", str(days), "--speed", str(speed), *extra]
    with _started(workdir, argv, extra_env) as run:
        yield run


@contextmanager
def resumed_run(workdir: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[SimRun]:
    """Start ``openbell run --mode sim --resume`` in ``workdir`` (after its supervisor died);
    its output goes on in the same ``run.out``. Always clean up."""
    with _started(workdir, ["--resume"], extra_env) as run:
        yield run


@contextmanager
def _started(
    workdir: Path, options: list[str], extra_env: Mapping[str, str] | None
) -> Iterator[SimRun]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBELL")}
    env["COLUMNS"] = "200"
    env.update(extra_env or {})
    argv = [sys.executable, "-m", "openbell", "run", "--mode", "sim", *options]
    with (workdir / "run.out").open("a", encoding="utf-8") as out:  # never a full pipe
        process = subprocess.Popen(
            argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    run = SimRun(workdir, process)
    try:
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- the gateway's ground truth ------------------------------------------------------------


def orders_at_gateway(run: SimRun) -> list[dict[str, object]]:
    return [r for r in run.journal if r["kind"] == "order"]


def executions_at_gateway(run: SimRun) -> list[dict[str, object]]:
    return [r for r in run.journal if r["kind"] == "execution"]


def net_shares(executions: list[dict[str, object]]) -> dict[str, float]:
    net: dict[str, float] = defaultdict(float)
    for e in executions:
        sign = 1 if e["side"] == "BOT" else -1
        net[str(e["symbol"])] += sign * float(str(e["shares"]))
    return dict(net)


pnl_of = executions_pnl


def duplicated(values: list[str]) -> list[str]:
    return [v for v, n in Counter(values).items() if n > 1]


def check_against_the_gateway(run: SimRun, days: tuple[date, ...]) -> list[Position]:
    """What every sim run must end with, checked against the gateway's own record: no order
    sent twice, each execution booked exactly once, every position of ``days`` over, the
    ledger's P&L equal to the executions' to the cent, and every share bought sold again.
    Return the positions of ``days`` for the caller's own checks."""
    orders, executions = orders_at_gateway(run), executions_at_gateway(run)
    assert orders, "no order reached the gateway"
    assert duplicated([str(o["order_ref"]) for o in orders]) == [], "an order was sent twice"
    ledger = run.ledger()
    try:
        booked = sorted(f.execution_id for f in ledger.fills())
        assert booked == sorted(str(e["exec_id"]) for e in executions)  # each exactly once
        positions = [p for day in days for p in ledger.positions_of_day(day)]
        assert positions and all(p.state.is_terminal for p in positions)
        assert ledger.active_positions() == []
        ledger_pnl = sum((p.realized_pnl.amount for p in positions), Decimal(0))
        assert ledger_pnl.quantize(Decimal("0.01")) == pnl_of(executions)
    finally:
        ledger.close()
    # only the outside holdings remain
    assert {s: n for s, n in net_shares(executions).items() if n} == {}
    return positions
