"""A quiet day of resting brackets on 50 symbols: the engine steps through it to the close.

How long it takes is a benchmark's figure (``benchmarks/venue.py``: a p50 of 1.6 to 3.3 ms on
the 2-core sandbox), never an assertion: this test checks what the benchmark's day produces.
"""

from __future__ import annotations

import numpy as np
from script_modules import load_script


def test_a_day_of_resting_brackets_on_50_symbols_goes_live_then_expires() -> None:
    bench = load_script("benchmarks/venue.py", "venue_benchmark")
    rng = np.random.default_rng(7)
    day = {f"S{i:02d}": bench.quiet_day(f"S{i:02d}", rng) for i in range(bench.SYMBOLS)}
    _, events = bench.one_trial(day)
    assert events == 150  # 50 targets go live at the open, all 100 expire at the close
