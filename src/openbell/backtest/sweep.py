"""``openbell backtest sweep``: one backtest per grid point, in parallel over the cores."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from decimal import Decimal

from openbell.backtest.app import BacktestRequest, run_request
from openbell.config import Settings

SWEEP_COLUMNS = (
    "entry",
    "target_pct",
    "stop_pct",
    "trades",
    "pnl",
    "win_rate_pct",
    "profit_factor",
    "max_drawdown",
    "target_fill_rate_pct",
)


@dataclass(frozen=True)
class SweepPoint:
    entry: str
    target_pct: Decimal
    stop_pct: Decimal


def grid(
    entries: Sequence[str], targets: Sequence[Decimal], stops: Sequence[Decimal]
) -> list[SweepPoint]:
    return [SweepPoint(e, t, s) for e, t, s in itertools.product(entries, targets, stops)]


def _run_point(base: BacktestRequest, point: SweepPoint, settings: Settings) -> dict[str, str]:
    from openbell.adapters.calendar import ExchangeCalendar  # noqa: PLC0415 - per process

    request = replace(
        base, entry=point.entry, target_pct=point.target_pct, stop_loss_pct=point.stop_pct
    )
    summary = run_request(request, settings, ExchangeCalendar.nyse()).summary
    return {
        "entry": point.entry,
        "target_pct": str(point.target_pct),
        "stop_pct": str(point.stop_pct),
        "trades": str(summary.trades),
        "pnl": f"{summary.pnl:.2f}",
        "win_rate_pct": str(summary.win_rate_pct),
        "profit_factor": "" if summary.profit_factor is None else str(summary.profit_factor),
        "max_drawdown": f"{summary.max_drawdown:.2f}",
        "target_fill_rate_pct": str(summary.target_fill_rate_pct),
    }


def run_sweep(
    base: BacktestRequest,
    points: Sequence[SweepPoint],
    settings: Settings,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> list[dict[str, str]]:
    """Every point's summary row, in grid order."""
    count = max(1, min(workers or os.cpu_count() or 1, len(points)))
    rows: dict[int, dict[str, str]] = {}
    with ProcessPoolExecutor(max_workers=count) as pool:
        futures = {pool.submit(_run_point, base, p, settings): i for i, p in enumerate(points)}
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            if on_done is not None:
                on_done()
    return [rows[i] for i in range(len(points))]
