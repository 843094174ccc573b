"""Backtest throughput: seeded synthetic 1-minute bars, one backtest, the whole process timed.

    .venv/bin/python benchmarks/backtest.py [--symbols 50] [--days 250] [--seed 7]

It draws ``symbols x days`` regular sessions of 390 one-minute bars plus two pre-market bars
(50 x 250 = 4.9M bars by default) as geometric random walks in one vectorised pass, then runs
one backtest over them with the real services, venue and a SQLite ledger. It prints bars per
second, the wall time of the whole process and its peak memory. It never fails on speed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time

START = time.perf_counter()

from datetime import date  # noqa: E402 - imports are part of what is timed
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from openbell.adapters.calendar import ExchangeCalendar  # noqa: E402
from openbell.backtest.memory import MemoryBars  # noqa: E402
from openbell.backtest.metrics import summarize  # noqa: E402
from openbell.backtest.runner import BacktestConfig, run_backtest  # noqa: E402
from openbell.bars.frame import DailyBars, DayBars, to_ns  # noqa: E402
from openbell.config import load_settings  # noqa: E402
from openbell.domain.sessions import Session  # noqa: E402
from openbell.domain.values import Money  # noqa: E402
from openbell.strategy.selection import SelectionRules  # noqa: E402

MINUTES = 390


def _sessions(calendar: ExchangeCalendar, first: date, count: int) -> list[Session]:
    sessions = [
        calendar.session(first) if calendar.is_trading_day(first) else calendar.next_session(first)
    ]
    while len(sessions) < count:
        sessions.append(calendar.next_session(sessions[-1].trading_day))
    return sessions


def generate(symbols: int, sessions: list[Session], seed: int) -> MemoryBars:
    """One vectorised draw: ``symbols x days`` of two pre-market bars and 390 minutes of a
    gapping random walk. Each DayBars is a view into the big arrays (no copies)."""
    rng = np.random.default_rng(seed)
    days = len(sessions)
    width = MINUTES + 2  # two pre-market prints at the opening price, then the session
    gaps = rng.normal(0.0, 0.02, (symbols, days))
    o, h, lo, c, v = (np.empty((symbols, days, width)) for _ in range(5))
    steps = rng.normal(0.0, 0.0012, (symbols, days, MINUTES))
    steps[:, :, 0] += gaps
    first_step = steps[:, :, 0].copy()
    level = 20.0 + 180.0 * rng.random((symbols, 1))
    walk = steps.reshape(symbols, -1)
    np.cumsum(walk, axis=1, out=walk)  # in place: no temporaries of 4.9M values
    np.exp(walk, out=walk)
    walk *= level
    c[:, :, 2:] = steps
    o[:, :, 3:] = c[:, :, 2:-1]
    o[:, :, 2] = c[:, :, 2] / np.exp(first_step - gaps)
    for column in (0, 1):
        o[:, :, column] = h[:, :, column] = lo[:, :, column] = c[:, :, column] = o[:, :, 2]
    reach = steps  # reuse the buffer: intrabar reach, up to 12 bp either way
    rng.random(out=reach)
    np.maximum(o[:, :, 2:], c[:, :, 2:], out=h[:, :, 2:])
    h[:, :, 2:] *= 1 + reach * 0.0012
    rng.random(out=reach)
    np.minimum(o[:, :, 2:], c[:, :, 2:], out=lo[:, :, 2:])
    lo[:, :, 2:] *= 1 - reach * 0.0012
    v[:, :, 2:] = rng.integers(1_000, 50_000, (symbols, days, MINUTES))
    v[:, :, 0], v[:, :, 1] = 200_000.0, 300_000.0
    names = [f"S{i:03d}" for i in range(symbols)]
    rth = slice(2, None)
    source = MemoryBars(
        daily=[
            _daily(
                n, sessions, o[i, :, rth], h[i, :, rth], lo[i, :, rth], c[i, :, rth], v[i, :, rth]
            )
            for i, n in enumerate(names)
        ]
    )
    offsets = np.concatenate([[-14_400, -5_400], np.arange(MINUTES) * 60]).astype(np.int64)
    for d, session in enumerate(sessions):
        starts = to_ns(session.open) + offsets * 1_000_000_000
        for i, name in enumerate(names):
            source.add_day(
                DayBars.trusted(
                    name,
                    session.trading_day,
                    60,
                    starts,
                    o[i, d],
                    h[i, d],
                    lo[i, d],
                    c[i, d],
                    v[i, d],
                    synthetic=True,
                    source="benchmark",
                )
            )
    return source


def _daily(
    name: str,
    sessions: list[Session],
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
) -> DailyBars:
    days = np.array([np.datetime64(s.trading_day, "D") for s in sessions])
    return DailyBars(
        name,
        days,
        o[:, 0].copy(),
        h.max(axis=1),
        lo.min(axis=1),
        c[:, -1].copy(),
        v.sum(axis=1),
        source="benchmark",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    calendar = ExchangeCalendar.nyse(start=date(2022, 12, 1))
    warmup = 20
    sessions = _sessions(calendar, date(2023, 1, 3), args.days + warmup)
    t0 = time.perf_counter()
    source = generate(args.symbols, sessions, args.seed)
    bars = args.symbols * args.days * (MINUTES + 2)
    t1 = time.perf_counter()
    settings = load_settings(None, dotenv_file=None).settings
    config = BacktestConfig(
        start=sessions[warmup].trading_day,
        end=sessions[-1].trading_day,
        universe=tuple(f"S{i:03d}" for i in range(args.symbols)),
        plan=settings.day_plan(),
        rules=SelectionRules(settings.strategy.top_n, settings.strategy.tiers()),
        allocation_pct=settings.strategy.allocation_pct,
        stop_loss_pct=settings.strategy.stop_loss_pct,
        starting_equity=Money(Decimal(100_000)),
    )
    with tempfile.TemporaryDirectory() as scratch:
        result = run_backtest(config, calendar, source, Path(scratch) / "ledger.sqlite")
    t2 = time.perf_counter()
    summary = summarize(result.trades)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"backtest benchmark: {args.symbols} symbols x {args.days} sessions "
        f"(+{warmup} warm-up), seed {args.seed}"
    )
    print(f"  bars replayed            {bars:,}")
    print(f"  generate bars            {t1 - t0:6.2f} s")
    print(f"  backtest                 {t2 - t1:6.2f} s   {bars / (t2 - t1):,.0f} bars/s")
    print(f"  whole process            {t2 - START:6.2f} s   (imports and setup included)")
    print(f"  peak memory              {peak_mb:,.0f} MB")
    print(f"  sessions {result.sessions}, trades {summary.trades}, P&L {summary.pnl:.2f} USD")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
