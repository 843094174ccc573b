"""Ledger throughput and latency: one writer process, then three racing writer processes.

Runs the mixed workload of ``tests/integration/ledger_workload.py`` in real OS processes
against a fresh ledger file in a temporary directory, prints operations, wall time, aggregate
operations per second and per-operation latency (p50/p99, all / writes / reads), then checks
every ledger invariant. It reports numbers; it never fails on speed.

    .venv/bin/python benchmarks/ledger.py [--ops 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from ledger_invariants import check_invariants, check_reports, percentile, totals
from ledger_workload import (
    READ_KINDS,
    run_workers,
)

_COLUMNS = (
    ("writers", 7),
    ("ops", 7),
    ("wall s", 7),
    ("ops/s", 8),
    ("p50 ms", 7),
    ("p99 ms", 7),
    ("wr p50", 7),
    ("wr p99", 7),
    ("rd p50", 7),
    ("rd p99", 7),
    ("refused", 8),
    ("retried", 8),
)


def _samples(reports: list[dict[str, Any]], reads: bool | None) -> list[float]:
    """Latency samples (ms) of every kind, of writes only (False) or of reads only (True)."""
    return [
        sample
        for report in reports
        for kind, samples in report["latency_ms"].items()
        if reads is None or (kind in READ_KINDS) == reads
        for sample in samples
    ]


def _row(writers: int, reports: list[dict[str, Any]]) -> list[str]:
    operations = sum(r["operations"] for r in reports)
    wall = max(r["finished_at"] for r in reports) - min(r["started_at"] for r in reports)
    outcomes = totals(reports)
    refused = sum(n for outcome, n in outcomes.items() if outcome.startswith("refused:"))
    cells = [str(writers), str(operations), f"{wall:.2f}", f"{operations / wall:,.0f}"]
    for reads in (None, False, True):
        samples = _samples(reports, reads)
        cells += [f"{percentile(samples, 0.50):.2f}", f"{percentile(samples, 0.99):.2f}"]
    return [*cells, str(refused), str(outcomes["retried"])]


def _print_table(rows: list[list[str]]) -> None:
    print("  ".join(name.rjust(width) for name, width in _COLUMNS))
    print("  ".join("-" * width for _, width in _COLUMNS))
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, (_, width) in zip(row, _COLUMNS, strict=True)))


def _print_kinds(reports: list[dict[str, Any]]) -> None:
    kinds = sorted({kind for r in reports for kind in r["latency_ms"]})
    print(f"  {'kind':<12} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}  outcomes")
    for kind in kinds:
        samples = [s for r in reports for s in r["latency_ms"].get(kind, [])]
        outcomes: dict[str, int] = {}
        for r in reports:
            for outcome, n in r["outcomes"].get(kind, {}).items():
                outcomes[outcome] = outcomes.get(outcome, 0) + n
        shown = ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items()))
        print(
            f"  {kind:<12} {len(samples):>6} {percentile(samples, 0.5):>8.2f} "
            f"{percentile(samples, 0.99):>8.2f}  {shown}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=5_000, help="operations per writer process")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rows: list[list[str]] = []
    details: list[tuple[int, list[dict[str, Any]], list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="openbell-ledger-bench-") as scratch:
        for writers in (1, 3):
            db = Path(scratch) / f"ledger-{writers}.db"
            reports = run_workers(db, writers, args.ops, args.seed, timeout_s=1800)
            problems = check_invariants(db) + check_reports(db, reports)
            rows.append(_row(writers, reports))
            details.append((writers, reports, problems))

    print(f"ledger benchmark: {args.ops:,} mixed operations per writer process (seed {args.seed})")
    print("latency per operation in ms, retries included; wr = writes, rd = reads\n")
    _print_table(rows)
    for writers, reports, problems in details:
        duplicates = sum(len(r["duplicate_execution_ids"]) for r in reports)
        inserted = sum(len(r["inserted_execution_ids"]) for r in reports)
        print(f"\n{writers} writer(s): {inserted} fills inserted, {duplicates} duplicates deduped")
        _print_kinds(reports)
        verdict = "all hold" if not problems else f"{len(problems)} BROKEN"
        print(f"  invariants: {verdict}")
        for problem in problems:
            print(f"    - {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
