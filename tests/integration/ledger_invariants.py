"""Invariants of a ledger after a concurrent workload, and the workload's summaries.

Every check opens the file read-only and returns each violation as text; [] means all hold.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger_workload import LIVE_STATES, PROTECTED, WORKLOAD_EVENT, read_only

# --- summaries ----------------------------------------------------------------------------------


def totals(reports: Iterable[dict[str, Any]]) -> Counter[str]:
    """Outcome counts summed over workers and kinds."""
    summed: Counter[str] = Counter()
    for report in reports:
        for counts in report["outcomes"].values():
            summed.update(counts)
    return summed


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` from 0 to 1) of ``samples``; 0 when empty."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


# --- invariants ---------------------------------------------------------------------------------

_POSITION_SUMS = """
SELECT p.position_id, p.symbol, p.role, p.state, p.planned_quantity, p.entry_quantity,
       p.exit_quantity,
       coalesce(sum(CASE WHEN f.side = 'BUY' THEN f.quantity END), 0),
       coalesce(sum(CASE WHEN f.side = 'SELL' THEN f.quantity END), 0)
FROM positions p LEFT JOIN fills f ON f.position_id = p.position_id
GROUP BY p.position_id ORDER BY p.position_id
"""


def check_invariants(db_path: Path, protected: Iterable[str] = PROTECTED) -> list[str]:
    """Read the ledger file and return every broken invariant, described; [] when sound."""
    conn = read_only(db_path)
    try:
        problems: list[str] = []
        for check in (
            _check_integrity,
            _check_position_quantities,
            _check_position_money,
            _check_states,
            _check_fills,
            _check_orders,
            _check_events,
        ):
            problems.extend(check(conn))
        problems.extend(_check_protected(conn, protected))
        return problems
    finally:
        conn.close()


def _check_integrity(conn: sqlite3.Connection) -> list[str]:
    problems = []
    verdict = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if verdict != ["ok"]:
        problems.append(f"integrity_check: {verdict}")
    broken_keys = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken_keys:
        problems.append(f"foreign_key_check: {broken_keys[:10]}")
    return problems


def _check_position_quantities(conn: sqlite3.Connection) -> list[str]:
    problems = []
    for pid, symbol, role, _, planned, entry, exit_, bought, sold in conn.execute(_POSITION_SUMS):
        adopted = planned if role == "ADOPTED" else 0
        where = f"position {pid} ({symbol} {role})"
        if exit_ > entry:
            problems.append(f"{where}: exit_quantity {exit_} > entry_quantity {entry}")
        if entry != adopted + bought:
            problems.append(f"{where}: entry_quantity {entry} != {adopted} + BUY fills {bought}")
        if exit_ != sold:
            problems.append(f"{where}: exit_quantity {exit_} != SELL fills {sold}")
    return problems


def _check_position_money(conn: sqlite3.Connection) -> list[str]:
    """Costs, proceeds and commissions equal the sums of their fills (no lost update)."""
    sums: dict[int, list[Decimal]] = {}
    for pid, side, quantity, price, commission in conn.execute(
        "SELECT position_id, side, quantity, price, commission FROM fills"
    ):
        cost, proceeds, fees = sums.setdefault(pid, [Decimal(0)] * 3)
        notional = Decimal(price) * quantity
        sums[pid] = [
            cost + (notional if side == "BUY" else 0),
            proceeds + (notional if side == "SELL" else 0),
            fees + Decimal(commission or 0),
        ]
    problems = []
    for pid, role, cost, proceeds, fees in conn.execute(
        "SELECT position_id, role, entry_cost, exit_proceeds, commissions FROM positions"
    ):
        expected = sums.get(pid, [Decimal(0)] * 3)
        found = [Decimal(cost), Decimal(proceeds), Decimal(fees)]
        for name, want, got in zip(
            ("entry_cost", "exit_proceeds", "commissions"), expected, found, strict=True
        ):
            if name == "entry_cost" and role == "ADOPTED":
                continue  # an adoption states its cost without a fill
            if want != got:
                problems.append(f"position {pid}: {name} {got} != sum of its fills {want}")
    return problems


def _check_states(conn: sqlite3.Connection) -> list[str]:
    problems = [
        f"symbol {symbol}: {count} live positions (expected at most 1)"
        for symbol, count in conn.execute(
            f"SELECT symbol, count(*) FROM positions WHERE state IN {LIVE_STATES} "
            "GROUP BY symbol HAVING count(*) > 1"
        )
    ]
    rules = {
        "CLOSED": "exit_quantity != entry_quantity OR entry_quantity = 0 OR closed_day IS NULL "
        "OR closed_at IS NULL",
        "OPEN": "exit_quantity >= entry_quantity OR opened_at IS NULL",
        "EXITING": "exit_quantity >= entry_quantity OR opened_at IS NULL",
        "PLANNED": "entry_quantity != 0 OR exit_quantity != 0 OR EXISTS "
        "(SELECT 1 FROM orders o WHERE o.position_id = positions.position_id)",
        "ENTRY_SUBMITTED": "entry_quantity != 0 OR NOT EXISTS (SELECT 1 FROM orders o "
        "WHERE o.position_id = positions.position_id AND o.role = 'ENTRY')",
        "ABANDONED": "entry_quantity != 0",
    }
    for state, broken in rules.items():
        problems.extend(
            f"position {pid} in state {state}: entry {entry}, exit {exit_} breaks its state rule"
            for pid, entry, exit_ in conn.execute(
                "SELECT position_id, entry_quantity, exit_quantity FROM positions "
                f"WHERE state = ? AND ({broken})",
                (state,),
            )
        )
    return problems


def _check_fills(conn: sqlite3.Connection) -> list[str]:
    problems = []
    rows, distinct = conn.execute(
        "SELECT count(*), count(DISTINCT execution_id) FROM fills"
    ).fetchone()
    if rows != distinct:
        problems.append(f"fills: {rows} rows but {distinct} distinct execution ids")
    orphans = conn.execute(
        "SELECT f.execution_id FROM fills f "
        "LEFT JOIN orders o ON o.order_ref = f.order_ref "
        "LEFT JOIN positions p ON p.position_id = f.position_id "
        "WHERE o.order_ref IS NULL OR p.position_id IS NULL OR o.symbol != f.symbol "
        "OR o.side != f.side OR (o.position_id != f.position_id AND NOT EXISTS ("
        # a late fill of an abandoned entry may be booked on the symbol's newer live position
        "SELECT 1 FROM events e WHERE e.kind = 'LATE_FILL_MOVED' "
        "AND json_extract(e.data, '$.execution_id') = f.execution_id))"
    ).fetchall()
    problems.extend(f"fill {eid}: no matching order and position" for (eid,) in orphans)
    return problems


def _check_orders(conn: sqlite3.Connection) -> list[str]:
    problems = [
        f"order {ref}: filled_quantity {filled} != sum of its fills {summed}"
        for ref, filled, summed in conn.execute(
            "SELECT o.order_ref, o.filled_quantity, coalesce(sum(f.quantity), 0) FROM orders o "
            "LEFT JOIN fills f ON f.order_ref = o.order_ref GROUP BY o.order_ref "
            "HAVING o.filled_quantity != coalesce(sum(f.quantity), 0)"
        )
    ]
    problems.extend(
        f"order {ref}: filled {filled} of {quantity} but status {status}"
        for ref, filled, quantity, status in conn.execute(
            "SELECT order_ref, filled_quantity, quantity, status FROM orders "
            "WHERE filled_quantity >= quantity AND status != 'FILLED'"
        )
    )
    problems.extend(
        f"order {ref}: position {pid} does not exist"
        for ref, pid in conn.execute(
            "SELECT order_ref, position_id FROM orders WHERE position_id NOT IN "
            "(SELECT position_id FROM positions)"
        )
    )
    return problems


def _check_events(conn: sqlite3.Connection) -> list[str]:
    """Event ids run 1..N without gaps, and each fill row has exactly one fill event."""
    problems = []
    count, first, last = conn.execute(
        "SELECT count(*), min(event_id), max(event_id) FROM events"
    ).fetchone()
    if count and (first != 1 or last != count):
        problems.append(f"events: {count} rows but ids run from {first} to {last}")
    (sequence,) = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'"
    ).fetchone()
    if sequence != (last or 0):
        problems.append(f"events: AUTOINCREMENT sequence {sequence} != last id {last}")
    fill_events = Counter(
        eid
        for (eid,) in conn.execute(
            "SELECT json_extract(data, '$.execution_id') FROM events WHERE kind LIKE '%\\_FILL' "
            "ESCAPE '\\'"
        )
    )
    fills = Counter(eid for (eid,) in conn.execute("SELECT execution_id FROM fills"))
    if fill_events != fills:
        missing = sorted((fills - fill_events).elements())[:10]
        extra = sorted((fill_events - fills).elements())[:10]
        problems.append(f"fill events != fills: without event {missing}, event only {extra}")
    return problems


def _check_protected(conn: sqlite3.Connection, protected: Iterable[str]) -> list[str]:
    problems = []
    for symbol in protected:
        for table in ("positions", "orders", "fills"):
            (count,) = conn.execute(
                f"SELECT count(*) FROM {table} WHERE symbol = ?", (symbol,)
            ).fetchone()
            if count:
                problems.append(f"protected symbol {symbol}: {count} rows in {table}")
    return problems


def check_reports(db_path: Path, reports: Sequence[dict[str, Any]]) -> list[str]:
    """Compare the workers' reports with the file; return every disagreement, described.

    Every execution id a worker inserted exists exactly once and no fill exists that no worker
    inserted; every duplicate a worker saw exists; each worker's WORKLOAD events and REFUSED
    events match its successful ``append_event`` calls and its refusals.
    """
    conn = read_only(db_path)
    try:
        return _fills_against_reports(conn, reports) + _events_against_reports(conn, reports)
    finally:
        conn.close()


def _fills_against_reports(
    conn: sqlite3.Connection, reports: Sequence[dict[str, Any]]
) -> list[str]:
    problems = []
    inserted = Counter(eid for r in reports for eid in r["inserted_execution_ids"])
    twice = sorted(eid for eid, n in inserted.items() if n > 1)
    if twice:
        problems.append(f"execution ids reported inserted more than once: {twice[:10]}")
    stored = Counter(eid for (eid,) in conn.execute("SELECT execution_id FROM fills"))
    missing = sorted(set(inserted) - set(stored))
    unclaimed = sorted(set(stored) - set(inserted))
    if missing:
        problems.append(f"reported inserted but not in fills: {missing[:10]}")
    if unclaimed:
        problems.append(f"in fills but reported inserted by no worker: {unclaimed[:10]}")
    if sum(stored.values()) != len(inserted):
        problems.append(f"{sum(stored.values())} fill rows != {len(inserted)} ids inserted")
    seen = {eid for r in reports for eid in r["duplicate_execution_ids"]}
    if seen - set(stored):
        problems.append(f"duplicates of fills that do not exist: {sorted(seen - set(stored))}")
    return problems


def _events_against_reports(
    conn: sqlite3.Connection, reports: Sequence[dict[str, Any]]
) -> list[str]:
    problems = []
    for report in reports:
        process = f"worker-{report['worker']}"
        refused = sum(
            n
            for counts in report["outcomes"].values()
            for outcome, n in counts.items()
            if outcome.startswith("refused:")
        )
        for kind, expected in ((WORKLOAD_EVENT, report["events_appended"]), ("REFUSED", refused)):
            (found,) = conn.execute(
                "SELECT count(*) FROM events WHERE process = ? AND kind = ?", (process, kind)
            ).fetchone()
            if found != expected:
                problems.append(f"{process}: {found} {kind} events, expected {expected}")
    return problems
