"""Seeded synthetic intraday paths that honour a real day's open, high, low, close and volume.

Where no licence-clean file has a day's minute bars, openbell draws them: the path starts at
the real open, touches the real high and low exactly once each (at random minutes, in a random
order), ends at the real close, and never leaves [low, high]. Between those four points it is
a Brownian bridge. Volume follows the usual U shape and sums to the real daily volume.
Pre-market bars run from 04:00 to the open as a sparse bridge from the previous close to the
open, with a small share of the day's volume. Every bar is marked ``synthetic``: reports say so.

The same (seed, symbol, day, inputs) always give the same bars.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from openbell.bars.frame import Basis, DayBars, to_ns
from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK

_STEPS_PER_MINUTE = 6
_PREMARKET_START = time(4, 0)
_PREMARKET_SHARE = 0.03  # of the day's volume
_PREMARKET_FILL = 0.35  # share of pre-market minutes that trade at all
_VOLATILITY = 0.25  # bridge noise, as a share of the day's range


@dataclass(frozen=True, slots=True)
class DailyFacts:
    """One real daily bar and the close before it, in one price basis."""

    open: float
    high: float
    low: float
    close: float
    volume: float
    previous_close: float

    def __post_init__(self) -> None:
        if (
            not 0
            < self.low
            <= min(self.open, self.close)
            <= max(self.open, self.close)
            <= self.high
        ):
            raise InvalidValue("daily bar", "0 < low <= open, close <= high", self)
        if self.volume < 0 or self.previous_close <= 0:
            raise InvalidValue("daily bar", "volume >= 0 and a previous close above 0", self)


def _rng(seed: int, symbol: str, day: date) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"{symbol}|{day.isoformat()}".encode())])


def _bridge(
    rng: np.random.Generator, start: float, end: float, steps: int, scale: float
) -> npt.NDArray[np.float64]:
    """``steps + 1`` points from ``start`` to ``end`` with Brownian noise pinned at both ends."""
    if steps <= 0:
        return np.array([start, end][: steps + 1 or 1], dtype=np.float64)
    walk = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 1.0, steps))])
    line = np.linspace(0.0, 1.0, steps + 1)
    pinned = walk - line * walk[-1]
    noise = pinned / max(np.abs(pinned).max(), 1e-12) * scale
    return np.asarray(start + (end - start) * line + noise, dtype=np.float64)


def _regular_path(
    rng: np.random.Generator, facts: DailyFacts, minutes: int
) -> npt.NDArray[np.float64]:
    steps = minutes * _STEPS_PER_MINUTE
    t_high, t_low = sorted(rng.choice(np.arange(1, steps), size=2, replace=False))
    if rng.random() < 0.5:
        t_high, t_low = t_low, t_high
    marks = sorted(
        [(0, facts.open), (t_high, facts.high), (t_low, facts.low), (steps, facts.close)]
    )
    scale = (facts.high - facts.low) * _VOLATILITY
    pieces = []
    for (t0, p0), (t1, p1) in pairwise(marks):
        piece = _bridge(rng, p0, p1, t1 - t0, scale)
        line = np.linspace(p0, p1, len(piece))
        touches_high = facts.high in (p0, p1)
        touches_low = facts.low in (p0, p1)
        if touches_high != touches_low:  # wander away from the extreme, never along it
            sign = -1.0 if touches_high else 1.0
            piece = line + sign * np.abs(piece - line)
        pieces.append(piece[:-1])
    path = np.clip(np.concatenate([*pieces, [facts.close]]), facts.low, facts.high)
    path[t_high], path[t_low], path[0], path[-1] = facts.high, facts.low, facts.open, facts.close
    return np.asarray(path, dtype=np.float64)


def _bars_from_path(path: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    """OHLC per minute: each minute spans ``_STEPS_PER_MINUTE`` steps and shares its edges."""
    minutes = (len(path) - 1) // _STEPS_PER_MINUTE
    idx = np.arange(minutes)[:, None] * _STEPS_PER_MINUTE + np.arange(_STEPS_PER_MINUTE + 1)
    windows = path[idx]
    return windows[:, 0], windows.max(axis=1), windows.min(axis=1), windows[:, -1]


def _u_shape(minutes: int) -> npt.NDArray[np.float64]:
    x = np.linspace(-1.0, 1.0, minutes)
    weights = 1.0 + 3.0 * x**2
    weights[0] *= 4.0  # the opening print
    weights[-1] *= 3.0  # the closing cross
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _whole(volume: float, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shares = np.floor(volume * weights)
    shares[np.argmax(weights)] += volume - shares.sum()  # the total is exact
    return shares


def synthetic_day(
    symbol: str,
    day: date,
    session_open: datetime,
    session_close: datetime,
    facts: DailyFacts,
    *,
    seed: int = 0,
    basis: Basis = Basis.RAW,
    premarket: bool = True,
) -> DayBars:
    """Draw a day of 1-minute bars (pre-market and regular session) that honour ``facts``."""
    rng = _rng(seed, symbol, day)
    minutes = int((session_close - session_open).total_seconds() // 60)
    o, h, lo, c = _bars_from_path(_regular_path(rng, facts, minutes))
    regular_volume = facts.volume * (1 - _PREMARKET_SHARE) if premarket else facts.volume
    v = _whole(regular_volume, _u_shape(minutes))
    starts = to_ns(session_open) + np.arange(minutes, dtype=np.int64) * 60_000_000_000
    if premarket:
        pre = _premarket(rng, day, session_open, facts)
        starts = np.concatenate([pre[0], starts])
        o, h, lo, c, v = (
            np.concatenate([p, r]) for p, r in zip(pre[1:], (o, h, lo, c, v), strict=True)
        )
    return DayBars(
        symbol,
        day,
        60,
        starts.astype(np.int64),
        o,
        h,
        lo,
        c,
        v,
        basis=basis,
        synthetic=True,
        source=f"synthetic seed {seed}",
    )


def _premarket(
    rng: np.random.Generator, day: date, session_open: datetime, facts: DailyFacts
) -> tuple[npt.NDArray[np.int64], *tuple[npt.NDArray[np.float64], ...]]:
    start = datetime.combine(day, _PREMARKET_START, NEW_YORK)
    minutes = int((session_open - start).total_seconds() // 60)
    scale = abs(facts.open - facts.previous_close) * 0.2 + facts.open * 0.001
    path = _bridge(rng, facts.previous_close, facts.open, minutes * _STEPS_PER_MINUTE, scale)
    path = np.maximum(path, 0.01)
    o, h, lo, c = _bars_from_path(path)
    keep = rng.random(minutes) < _PREMARKET_FILL
    keep[-1] = True  # a last pre-market print near the open
    weights = np.where(keep, rng.random(minutes) + 0.2, 0.0)
    v = _whole(facts.volume * _PREMARKET_SHARE, weights / weights.sum())
    starts = to_ns(start) + np.arange(minutes, dtype=np.int64) * 60_000_000_000
    rows = keep & (v > 0)
    return starts[rows], o[rows], h[rows], lo[rows], c[rows], v[rows]


def session_bounds(day: date, close: time = time(16)) -> tuple[datetime, datetime]:
    """09:30 and ``close`` New York time on ``day`` (for callers without a calendar)."""
    return (datetime.combine(day, time(9, 30), NEW_YORK), datetime.combine(day, close, NEW_YORK))
