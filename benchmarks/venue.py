"""The matching engine through a quiet day: 50 symbols, 960 minute bars each, a resting bracket.

    .venv/bin/python benchmarks/venue.py [--trials 50] [--seed 7]

Each trial loads a fresh ``MatchingEngine`` with 50 symbols of seeded one-minute bars from
04:00 to 20:00 (48,000 bars), rests a target and a stop (one OCA group) on each symbol that
the day never reaches, and times one ``advance_to(20:00)`` from 09:29: the engine should jump
from event to event, so a day where nothing fills costs next to nothing whatever its length.
It prints the events of a trial (50 targets go live at the open; all 100 orders expire at the
close: 150) and p50/p99/max in milliseconds. It never fails on speed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from venue_fakes import DAY, LMT, SELL, STP, ny, order, session

from openbell.bars.frame import DayBars, to_ns
from openbell.venue import MatchingEngine, VenueConfig

SYMBOLS = 50
BARS = 960


def quiet_day(symbol: str, rng: np.random.Generator) -> DayBars:
    """960 minute bars from 04:00 to 20:00 drifting around USD 10."""
    starts = to_ns(ny("04:00")) + np.arange(BARS, dtype=np.int64) * 60_000_000_000
    closing = 10 * np.exp(np.cumsum(rng.normal(0, 0.001, BARS)))
    opening = np.concatenate([[10.0], closing[:-1]])
    high = np.maximum(opening, closing) * 1.001
    low = np.minimum(opening, closing) * 0.999
    volume = rng.integers(100, 10_000, BARS).astype(np.float64)
    return DayBars(symbol, DAY, 60, starts, opening, high, low, closing, volume)


def one_trial(day: dict[str, DayBars]) -> tuple[float, int]:
    """Milliseconds of one ``advance_to`` through the day, and the events it returned."""
    venue = MatchingEngine(VenueConfig())
    venue.load_day(session(), day)
    for i, (symbol, bars) in enumerate(day.items()):
        group = {"symbol": symbol, "oca_group": f"exit {symbol}"}
        target = float(bars.high.max()) * 1.5
        stop = float(bars.low.min()) * 0.5
        venue.submit(order(2 * i + 1, LMT, SELL, limit_price=target, **group), ny("09:29"))
        venue.submit(order(2 * i + 2, STP, SELL, stop_price=stop, **group), ny("09:29"))
    started = time.perf_counter()
    events = venue.advance_to(ny("20:00"))
    return (time.perf_counter() - started) * 1000, len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.trials < 1:
        parser.error(f"--trials expects 1 or more, found {args.trials}")
    rng = np.random.default_rng(args.seed)
    day = {f"S{i:02d}": quiet_day(f"S{i:02d}", rng) for i in range(SYMBOLS)}
    timings, counts = [], set()
    for _ in range(args.trials):
        ms, events = one_trial(day)
        timings.append(ms)
        counts.add(events)
    timings.sort()
    p99 = timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))]
    print(f"venue: a quiet day, {SYMBOLS} symbols x {BARS} bars, {args.trials} trials")
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"events per trial: {', '.join(str(c) for c in sorted(counts))} (expected 150)")
    p50 = statistics.median(timings)
    print(f"advance_to ms: p50 {p50:.2f}  p99 {p99:.2f}  max {timings[-1]:.2f}")


if __name__ == "__main__":
    main()
