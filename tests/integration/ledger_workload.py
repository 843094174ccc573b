"""A mixed ledger workload that several OS processes run at once against one file.

Each worker process opens the same ledger and performs seeded random operations on a small
shared pool of symbols, so the processes genuinely race on the same positions, orders and
fills. Because other workers change the ledger between a worker's look and its command, a
refusal (:class:`RefusedInput`) is an expected outcome and is counted; :class:`RetryLater` is
retried with a short backoff; any other exception fails the worker (exit status 1, traceback
on stderr, with the worker's last operations attached).

``ledger_invariants.check_invariants`` then reads the file and lists every broken invariant,
and ``check_reports`` compares what the workers said they did with what the file holds.

Run one worker by hand::

    python tests/integration/ledger_workload.py --db PATH --worker N --ops N --seed N

The last stdout line is the worker's report as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from openbell.adapters.clock import SystemClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain import (
    Confidence,
    ExitReason,
    Fill,
    Money,
    OrderIntent,
    OrderRef,
    OrderRole,
    OrderStatus,
    OrderType,
    Position,
    PositionRole,
    Price,
    Quantity,
    Side,
    Symbol,
    TimeInForce,
)
from openbell.domain.errors import RefusedInput, RetryLater

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMD", "TSLA", "META", "AMZN", "GOOG")
PROTECTED = ("SKYX",)
TRADING_DAY = date(2026, 1, 5)
WORKLOAD_EVENT = "WORKLOAD"
LIVE_STATES = ("PLANNED", "ENTRY_SUBMITTED", "OPEN", "EXITING")

# Operation kind -> weight in the mix. Entries are cancelled too, and abandoned entries get
# late fills, so the ledger's late-fill path races against new plans in the same symbol.
OPERATION_WEIGHTS = {
    "cancel_entry": 3,
    "late_entry_fill": 3,
    "plan": 10,
    "entry_order": 10,
    "entry_fill": 12,
    "exit_order": 10,
    "exit_fill": 14,
    "protected": 4,
    "adopt": 3,
    "release": 3,
    "cancel_exit": 4,
    "exit_state": 3,
    "abandon": 2,
    "event": 6,
    "beat": 2,
    "score": 4,
    "read": 13,
}
READ_KINDS = frozenset({"read"})

_MAX_ATTEMPTS = 200
_RECENT_OPS = 25
_BARRIER_TIMEOUT_S = 120.0
_READY = "ready-{}"
_GO = "go"
# Fills carry an execution instant unique to (worker, op): reading a fill back tells whether
# this call inserted it or found another call's row (fill rows are never rewritten).
_FILL_EPOCH = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def fill_marker(worker_id: int, op_index: int) -> datetime:
    """The execution instant a worker stamps on the fills of one operation."""
    return _FILL_EPOCH + timedelta(seconds=op_index, microseconds=worker_id)


def read_only(db_path: Path) -> sqlite3.Connection:
    """A plain read-only connection to the ledger file (harness reads, not ledger calls)."""
    conn = sqlite3.connect(db_path.as_uri() + "?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


# --- one worker ---------------------------------------------------------------------------------


@dataclass
class Target:
    """What the harness saw of a symbol's latest position just before acting on it."""

    symbol: Symbol
    position_id: int | None = None
    state: str = ""
    planned: int = 0
    held: int = 0
    entry_ref: str | None = None
    exit_refs: list[tuple[str, str]] = field(default_factory=list)  # (order_ref, status)
    sell_fills: int = 0


@dataclass
class Action:
    """One ledger call; ``after`` runs once it succeeded (untimed bookkeeping)."""

    kind: str
    call: Callable[[], object]
    after: Callable[[], None] | None = None


class _Worker:
    def __init__(
        self,
        ledger: SqliteLedger,
        look: sqlite3.Connection,
        worker_id: int,
        seed: int,
        symbols: Sequence[str],
        protected: Sequence[str],
    ) -> None:
        self.ledger = ledger
        self.look = look
        self.worker_id = worker_id
        self.rng = random.Random(f"{seed}:{worker_id}")
        self.backoff_rng = random.Random(f"{seed}:{worker_id}:backoff")
        self.symbols = [Symbol(s) for s in symbols]
        self.protected = [Symbol(s) for s in protected]
        self.outcomes: dict[str, Counter[str]] = {}
        self.latency_ms: dict[str, list[float]] = {}
        self.inserted: list[str] = []
        self.duplicates: list[str] = []
        self.events_appended = 0
        self.recent: deque[str] = deque(maxlen=_RECENT_OPS)
        self.op = 0

    # --- running ----------------------------------------------------------------------------

    def run(self, operations: int) -> None:
        kinds = list(OPERATION_WEIGHTS)
        weights = list(OPERATION_WEIGHTS.values())
        for op in range(operations):
            self.op = op
            kind = self.rng.choices(kinds, weights)[0]
            action = getattr(self, f"_{kind}")()
            try:
                self.perform(action)
            except Exception as exc:
                exc.add_note(
                    f"worker {self.worker_id} op {self.op} ({action.kind}) failed; last ops:\n  "
                    + "\n  ".join(self.recent)
                )
                raise

    def perform(self, action: Action) -> None:
        started = time.perf_counter()
        outcome = ""
        for attempt in range(_MAX_ATTEMPTS):
            try:
                action.call()
            except RetryLater:
                self._count(action.kind, "retried")
                time.sleep(self.backoff_rng.uniform(0.0005, 0.002) * min(attempt + 1, 10))
                continue
            except RefusedInput as exc:
                outcome = f"refused:{type(exc).__name__}"
            else:
                outcome = "ok"
            break
        else:
            raise RuntimeError(f"still busy after {_MAX_ATTEMPTS} attempts")
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.latency_ms.setdefault(action.kind, []).append(round(elapsed_ms, 4))
        self._count(action.kind, outcome)
        self.recent.append(f"op {self.op} {action.kind}: {outcome}")
        if outcome == "ok" and action.after is not None:
            action.after()

    def _count(self, kind: str, outcome: str) -> None:
        self.outcomes.setdefault(kind, Counter())[outcome] += 1

    # --- looking (plain reads, not timed, not counted) --------------------------------------

    def _target(self, symbol: Symbol | None = None) -> Target:
        symbol = symbol or self.rng.choice(self.symbols)
        target = Target(symbol)
        row = self.look.execute(
            "SELECT position_id, state, planned_quantity, entry_quantity - exit_quantity "
            "FROM positions WHERE symbol = ? ORDER BY position_id DESC LIMIT 1",
            (str(symbol),),
        ).fetchone()
        if row is None:
            return target
        target.position_id, target.state, target.planned, target.held = row
        for ref, role, status in self.look.execute(
            "SELECT order_ref, role, status FROM orders WHERE position_id = ?", (row[0],)
        ):
            if role == "ENTRY":
                target.entry_ref = ref
            else:
                target.exit_refs.append((ref, status))
        (target.sell_fills,) = self.look.execute(
            "SELECT count(*) FROM fills WHERE position_id = ? AND side = 'SELL'", (row[0],)
        ).fetchone()
        return target

    def note_fill(self, execution_id: str, marker: datetime) -> Callable[[], None]:
        def note() -> None:
            row = self.look.execute(
                "SELECT executed_at FROM fills WHERE execution_id = ?", (execution_id,)
            ).fetchone()
            if row is None:
                raise AssertionError(f"fill {execution_id} was recorded but is not in the ledger")
            mine = row[0] == marker.isoformat()
            (self.inserted if mine else self.duplicates).append(execution_id)

        return note

    # --- operations -------------------------------------------------------------------------

    def _ref(self) -> OrderRef:
        return OrderRef(f"w{self.worker_id}-{self.op}")

    def _price(self) -> Price:
        return Price(Decimal(self.rng.randint(5000, 15000)) / 100)

    def _plan(self, symbol: Symbol | None = None) -> Action:
        # The run spans days (one per 100 operations of a worker): the ledger refuses a new
        # position in a symbol closed the same trading day, and every close here is booked
        # on TRADING_DAY, so later days may plan any symbol again.
        position = Position(
            TRADING_DAY + timedelta(days=self.op // 100),
            symbol or self.rng.choice(self.symbols),
            PositionRole.MASTER,
            Quantity(self.rng.randint(10, 100)),
            confidence=Confidence(Decimal("0.72")),
            target_pct=Decimal("2.6"),
            stop_loss_pct=Decimal("1.5"),
        )
        return Action("plan", lambda: self.ledger.plan_position(position))

    def _entry_order(self, target: Target | None = None) -> Action:
        target = target or self._target()
        pid = target.position_id
        if pid is None:
            return self._plan(target.symbol)
        intent = OrderIntent(
            self._ref(),
            target.symbol,
            Side.BUY,
            Quantity(target.planned),
            OrderType.MARKET,
            TimeInForce.AT_THE_OPEN,
            OrderRole.ENTRY,
        )
        owner = f"worker-{self.worker_id}"
        return Action("entry_order", lambda: self.ledger.record_order(pid, intent, owner))

    def _entry_fill(self) -> Action:
        target = self._target()
        if target.entry_ref is None:
            return self._entry_order(target)
        # Every worker names this fill the same way, so they collide and the ledger must dedupe.
        execution_id = f"p{target.position_id}-entry"
        fill = self.fill(
            execution_id, target.symbol, OrderRef(target.entry_ref), Side.BUY, target.planned
        )
        return Action(
            "entry_fill",
            lambda: self.ledger.record_entry_fill(fill),
            self.note_fill(execution_id, fill.executed_at),
        )

    def fill(
        self, execution_id: str, symbol: Symbol, ref: OrderRef, side: Side, quantity: int
    ) -> Fill:
        return Fill(
            execution_id,
            ref,
            symbol,
            side,
            Quantity(quantity),
            self._price(),
            fill_marker(self.worker_id, self.op),
            commission=Money(Decimal(self.rng.randint(1, 200)) / 100),
        )

    def _exit_order(self, target: Target | None = None) -> Action:
        target = target or self._target()
        pid = target.position_id
        if pid is None:
            return self._plan(target.symbol)
        quantity = self.rng.randint(1, max(1, target.held))
        if self.rng.random() < 0.2:
            quantity = target.held + self.rng.randint(1, 5)  # more than held: a Conflict
        intent = OrderIntent(
            self._ref(),
            target.symbol,
            Side.SELL,
            Quantity(quantity),
            OrderType.LIMIT,
            TimeInForce.DAY,
            OrderRole.TARGET,
            limit_price=self._price(),
        )
        owner = f"worker-{self.worker_id}"
        return Action("exit_order", lambda: self.ledger.record_order(pid, intent, owner))

    def _exit_fill(self) -> Action:
        target = self._target()
        if not target.exit_refs:
            return self._exit_order(target)
        ref = OrderRef(self.rng.choice(target.exit_refs)[0])
        quantity = self.rng.randint(1, max(1, target.held))
        if self.rng.random() < 0.15:
            quantity = target.held + self.rng.randint(1, 10)  # more than held: an Oversell
        execution_id = f"w{self.worker_id}-{self.op}-exit"
        if self.rng.random() < 0.4:
            # Named after the position's next exit fill, so racing workers collide.
            execution_id = f"p{target.position_id}-exit-{target.sell_fills}"
        fill = self.fill(execution_id, target.symbol, ref, Side.SELL, quantity)
        return Action(
            "exit_fill",
            lambda: self.ledger.record_exit_fill(fill, TRADING_DAY),
            self.note_fill(execution_id, fill.executed_at),
        )

    def _protected(self) -> Action:
        symbol = self.rng.choice(self.protected)
        action = self._plan(symbol) if self.rng.random() < 0.5 else self._adopt(symbol)
        return Action("protected", action.call)

    def _adopt(self, symbol: Symbol | None = None) -> Action:
        symbol = symbol or self.rng.choice(self.symbols)
        quantity = Quantity(self.rng.randint(5, 50))
        price = self._price()
        return Action(
            "adopt",
            lambda: self.ledger.adopt(symbol, quantity, price, "workload adopt", TRADING_DAY),
        )

    def _release(self) -> Action:
        symbol = self.rng.choice(self.symbols)
        return Action("release", lambda: self.ledger.release(symbol, "workload release"))

    def _cancel_exit(self) -> Action:
        target = self._target()
        if not target.exit_refs:
            return self._exit_order(target)
        live = [
            ref
            for ref, status in target.exit_refs
            if status in ("PENDING", "SUBMITTED", "PARTIALLY_FILLED")
        ]
        ref = OrderRef(self.rng.choice(live or [r for r, _ in target.exit_refs]))
        return Action(
            "cancel_exit",
            lambda: self.ledger.update_order(ref, OrderStatus.CANCELLED, reason="workload"),
        )

    def _cancel_entry(self) -> Action:
        target = self._target()
        if target.entry_ref is None or target.state != "ENTRY_SUBMITTED":
            return self._entry_order(target)
        ref = OrderRef(target.entry_ref)
        return Action(
            "cancel_entry",
            lambda: self.ledger.update_order(ref, OrderStatus.CANCELLED, reason="workload"),
        )

    def _late_entry_fill(self) -> Action:
        symbol = self.rng.choice(self.symbols)
        row = self.look.execute(
            "SELECT p.position_id, p.planned_quantity, o.order_ref FROM positions p "
            "JOIN orders o ON o.position_id = p.position_id AND o.role = 'ENTRY' "
            "WHERE p.symbol = ? AND p.state = 'ABANDONED' ORDER BY p.position_id DESC LIMIT 1",
            (str(symbol),),
        ).fetchone()
        if row is None:
            return self._cancel_entry()
        pid, planned, ref = row
        # IB reports a fill after the cancel; every worker names it alike to force duplicates.
        execution_id = f"p{pid}-late"
        fill = self.fill(execution_id, symbol, OrderRef(ref), Side.BUY, planned)
        return Action(
            "late_entry_fill",
            lambda: self.ledger.record_entry_fill(fill),
            self.note_fill(execution_id, fill.executed_at),
        )

    def _exit_state(self) -> Action:
        target = self._target()
        pid = target.position_id
        if pid is None:
            return self._plan(target.symbol)
        if target.state == "EXITING":
            return Action("exit_state", lambda: self.ledger.abort_exit(pid, "workload"))
        return Action("exit_state", lambda: self.ledger.start_exit(pid, ExitReason.MANUAL))

    def _abandon(self) -> Action:
        target = self._target()
        pid = target.position_id
        if pid is None:
            return self._plan(target.symbol)
        return Action("abandon", lambda: self.ledger.abandon(pid, "workload abandon"))

    def _event(self) -> Action:
        symbol = self.rng.choice(self.symbols)
        data = {"worker": self.worker_id, "op": self.op}

        def appended() -> None:
            self.events_appended += 1

        return Action(
            "event",
            lambda: self.ledger.append_event(
                WORKLOAD_EVENT, f"worker {self.worker_id} op {data['op']}", symbol=symbol, data=data
            ),
            appended,
        )

    def _beat(self) -> Action:
        detail = f"op {self.op}"
        return Action("beat", lambda: self.ledger.beat("running", detail))

    def _score(self) -> Action:
        symbol = self.rng.choice(self.symbols)
        confidence = Confidence(Decimal(self.rng.randint(0, 100)) / 100)
        scorer = f"worker-{self.worker_id}"
        inputs = {"op": self.op, "gap_pct": self.rng.randint(-5, 5)}
        return Action(
            "score",
            lambda: self.ledger.record_score(
                TRADING_DAY, symbol, scorer, confidence, inputs, {"pick": True}
            ),
        )

    def _read(self) -> Action:
        symbol = self.rng.choice(self.symbols)
        reads: list[Callable[[], object]] = [
            self.ledger.active_positions,
            lambda: self.ledger.closed_positions(TRADING_DAY),
            lambda: self.ledger.is_active(symbol),
            lambda: self.ledger.was_closed_on(symbol, TRADING_DAY),
        ]
        return Action("read", self.rng.choice(reads))

    def report(self, started_at: float, finished_at: float) -> dict[str, Any]:
        return {
            "worker": self.worker_id,
            "pid": os.getpid(),
            "operations": sum(len(v) for v in self.latency_ms.values()),
            "started_at": started_at,
            "finished_at": finished_at,
            "outcomes": {kind: dict(counts) for kind, counts in self.outcomes.items()},
            "inserted_execution_ids": self.inserted,
            "duplicate_execution_ids": self.duplicates,
            "events_appended": self.events_appended,
            "latency_ms": self.latency_ms,
        }


def open_ledger(
    db_path: Path,
    worker_id: int,
    protected: Iterable[str] = PROTECTED,
    busy_timeout_ms: int = 5000,
) -> SqliteLedger:
    """Open the shared ledger as ``worker-N``, retrying while another process migrates it."""
    for attempt in range(_MAX_ATTEMPTS):
        try:
            return SqliteLedger.open(
                db_path,
                SystemClock(),
                process=f"worker-{worker_id}",
                protected_symbols=frozenset(Symbol(s) for s in protected),
                busy_timeout_ms=busy_timeout_ms,
            )
        except RetryLater:
            time.sleep(0.001 * min(attempt + 1, 20))
    raise RuntimeError(f"ledger {db_path} stayed busy for {_MAX_ATTEMPTS} opening attempts")


def _wait_for_go(barrier: Path | None, worker_id: int) -> None:
    if barrier is None:
        return
    (barrier / _READY.format(worker_id)).touch()
    deadline = time.monotonic() + _BARRIER_TIMEOUT_S
    while not (barrier / _GO).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker {worker_id}: no go signal in {_BARRIER_TIMEOUT_S} s")
        time.sleep(0.001)


def run_worker(
    db_path: Path,
    worker_id: int,
    operations: int,
    seed: int,
    symbols: list[str],
    protected: list[str],
    barrier: Path | None = None,
    busy_timeout_ms: int = 5000,
) -> dict[str, Any]:
    """Perform ``operations`` mixed ledger operations as ``worker-N``; return the report.

    Each operation is its own ledger call (its own transaction). The report is JSON-ready:
    outcomes per kind ("ok", "refused:<Error>", "retried"), the execution ids this worker
    inserted and those it found already recorded, successful ``append_event`` calls, and
    latency samples in milliseconds per kind (retries and backoff included).
    """
    ledger = open_ledger(db_path, worker_id, protected, busy_timeout_ms)
    look = read_only(db_path)
    try:
        worker = _Worker(ledger, look, worker_id, seed, symbols, protected)
        _wait_for_go(barrier, worker_id)
        started_at = time.time()
        worker.run(operations)
        return worker.report(started_at, time.time())
    finally:
        look.close()
        ledger.close()


def race_entry_fills(db_path: Path, worker_id: int, barrier: Path | None = None) -> dict[str, Any]:
    """Record a full fill for every ENTRY order in the file, in order_ref order.

    The execution id is derived from the position (``p<id>-entry``), so every process running
    this at once records the same fills at about the same moment.
    """
    ledger = open_ledger(db_path, worker_id, ())
    look = read_only(db_path)
    try:
        orders = look.execute(
            "SELECT order_ref, position_id, symbol, quantity FROM orders "
            "WHERE role = 'ENTRY' ORDER BY order_ref"
        ).fetchall()
        worker = _Worker(ledger, look, worker_id, 0, SYMBOLS, ())
        _wait_for_go(barrier, worker_id)
        started_at = time.time()
        for op, (ref, pid, symbol, quantity) in enumerate(orders):
            worker.op = op
            execution_id = f"p{pid}-entry"
            fill = worker.fill(execution_id, Symbol(symbol), OrderRef(ref), Side.BUY, quantity)
            record = partial(ledger.record_entry_fill, fill)
            worker.perform(
                Action("entry_fill", record, worker.note_fill(execution_id, fill.executed_at))
            )
        return worker.report(started_at, time.time())
    finally:
        look.close()
        ledger.close()


def prepare_fill_race(db_path: Path, positions: int) -> None:
    """Plan ``positions`` positions (one symbol each) and record each one's entry order."""
    ledger = open_ledger(db_path, 0, ())
    try:
        for n in range(positions):
            symbol = Symbol(f"RACE{n}")
            stored = ledger.plan_position(
                Position(TRADING_DAY, symbol, PositionRole.MASTER, Quantity(10 + n % 7))
            )
            assert stored.position_id is not None
            intent = OrderIntent(
                OrderRef(f"entry-{n:05d}"),
                symbol,
                Side.BUY,
                stored.planned_quantity,
                OrderType.MARKET,
                TimeInForce.AT_THE_OPEN,
                OrderRole.ENTRY,
            )
            ledger.record_order(stored.position_id, intent, "race-setup")
    finally:
        ledger.close()


# --- launching real OS processes ----------------------------------------------------------------


def run_workers(
    db_path: Path,
    workers: int,
    ops: int,
    seed: int,
    timeout_s: float = 600.0,
    busy_timeout_ms: int = 5000,
) -> list[dict[str, Any]]:
    """Run ``workers`` OS processes of the mixed workload at once; return their reports.

    A short ``busy_timeout_ms`` makes the ledger raise ``LedgerBusy`` under contention, which
    exercises the workers' retries.
    """
    common = ["--ops", str(ops), "--seed", str(seed), "--busy-timeout-ms", str(busy_timeout_ms)]
    return _launch(db_path, [["--worker", str(n), *common] for n in range(workers)], timeout_s)


def run_fill_race(db_path: Path, workers: int, timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """Run ``workers`` OS processes that all record the same entry fills at once."""
    return _launch(
        db_path, [["--worker", str(n), "--race-fills"] for n in range(workers)], timeout_s
    )


def _launch(db_path: Path, worker_args: list[list[str]], timeout_s: float) -> list[dict[str, Any]]:
    """Start one process per argument list, release them together, collect their reports.

    Each process opens the ledger, then waits for a go file, so process start-up is not
    measured and all of them start operating at the same moment.
    """
    barrier = Path(tempfile.mkdtemp(prefix=f"{db_path.name}.barrier-", dir=db_path.parent))
    deadline = time.monotonic() + timeout_s
    command = [sys.executable, __file__, "--db", str(db_path), "--barrier", str(barrier)]
    processes = [
        subprocess.Popen(
            [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in worker_args
    ]
    try:
        _release_when_ready(barrier, processes, deadline)
        return [_collect(n, process, deadline) for n, process in enumerate(processes)]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate()


def _release_when_ready(
    barrier: Path, processes: list[subprocess.Popen[str]], deadline: float
) -> None:
    ready = [barrier / _READY.format(n) for n in range(len(processes))]
    while not all(path.exists() for path in ready):
        failed = [n for n, p in enumerate(processes) if p.poll() is not None]
        if failed:
            n = failed[0]
            _, stderr = processes[n].communicate()
            raise RuntimeError(f"worker {n} exited before starting:\n{stderr}")
        if time.monotonic() > deadline:
            raise TimeoutError("workers did not open the ledger in time")
        time.sleep(0.005)
    (barrier / _GO).touch()


def _collect(n: int, process: subprocess.Popen[str], deadline: float) -> dict[str, Any]:
    try:
        stdout, stderr = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise TimeoutError(f"worker {n} did not finish in time:\n{stderr}") from None
    if process.returncode != 0:
        raise RuntimeError(f"worker {n} failed with exit status {process.returncode}:\n{stderr}")
    report: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return report


# --- command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker process; print its report as JSON on the last stdout line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--barrier", type=Path, default=None)
    parser.add_argument("--busy-timeout-ms", type=int, default=5000)
    parser.add_argument("--race-fills", action="store_true")
    args = parser.parse_args(argv)
    if args.race_fills:
        report = race_entry_fills(args.db, args.worker, args.barrier)
    else:
        report = run_worker(
            args.db,
            args.worker,
            args.ops,
            args.seed,
            list(SYMBOLS),
            list(PROTECTED),
            args.barrier,
            args.busy_timeout_ms,
        )
    print(json.dumps(report, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
