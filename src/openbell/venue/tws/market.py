"""Market data the gateway derives from the replayed bars: ticks and historical bars.

Bars are stamped with their start and cover ``[start, start + resolution)``. Nothing is told
before it is known: a bar's open is a trade at its start; its low, high and close are trades
at its end, in the order a conservative path takes them (down first on an up bar, up first
on a down bar), followed by the quote around the close and the day's running volume, high
and low. So a subscriber sees a stop level crossed at the same instant the engine can fill a
stop there.

Volumes are in shares (IB reports US stock volumes in shares at these server versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from openbell.bars.frame import DayBars, from_ns, to_ns
from openbell.domain.errors import InvalidValue
from openbell.venue.tws.answers import HistoricalBar

BID, ASK, LAST, HIGH, LOW, VOLUME, CLOSE, OPEN = 1, 2, 4, 6, 7, 8, 9, 14
BID_SIZE, ASK_SIZE, LAST_SIZE = 0, 3, 5
SPREAD = 0.01
"""Half a cent each side would be tighter than IB's minimum tick; one tick around the last."""
QUOTE_SIZE = 100.0


@dataclass(frozen=True, slots=True)
class Tick:
    """One market data update: ``kind`` is IB's tick type; ``size`` only for trades/sizes."""

    at_ns: int
    kind: int
    price: float | None
    size: float


def ticks_between(bars: DayBars, after_ns: int, until_ns: int, open_ns: int) -> list[Tick]:
    """The ticks of ``bars`` that became known in ``(after_ns, until_ns]``, in time order.

    ``open_ns`` is the regular session's open: the bar starting there also gives the open tick.
    """
    step = bars.resolution_s * 1_000_000_000
    starts = bars.start_ns
    ends = starts + step
    # At one instant a bar's end (its low, high and close) comes before the next bar's open.
    events = [(int(starts[i]), 1, i) for i in range(*_span(starts, after_ns, until_ns))]
    events += [(int(ends[i]), 0, i) for i in range(*_span(ends, after_ns, until_ns))]
    events.sort()
    ticks: list[Tick] = []
    for at_ns, is_start, i in events:
        if not is_start:
            ticks.extend(_bar_end(bars, i, at_ns))
            continue
        if at_ns == open_ns:
            ticks.append(Tick(at_ns, OPEN, float(bars.open[i]), 0.0))
        ticks.append(Tick(at_ns, LAST, float(bars.open[i]), 0.0))
    return ticks


def _span(stamps: np.ndarray, after_ns: int, until_ns: int) -> tuple[int, int]:
    lo = int(np.searchsorted(stamps, after_ns, side="right"))
    return lo, int(np.searchsorted(stamps, until_ns, side="right"))


def _bar_end(bars: DayBars, i: int, at_ns: int) -> list[Tick]:
    o, h, lo, c = (
        float(bars.open[i]),
        float(bars.high[i]),
        float(bars.low[i]),
        float(bars.close[i]),
    )
    volume = float(bars.volume[i])
    path = (lo, h) if c >= o else (h, lo)
    share = volume / 3 if volume else 0.0
    ticks = [Tick(at_ns, LAST, p, share) for p in (*path, c)]
    ticks += [
        *quote(at_ns, c),
        Tick(at_ns, VOLUME, None, float(bars.volume[: i + 1].sum())),
        Tick(at_ns, HIGH, float(bars.high[: i + 1].max()), 0.0),
        Tick(at_ns, LOW, float(bars.low[: i + 1].min()), 0.0),
    ]
    return ticks


def quote(at_ns: int, price: float) -> list[Tick]:
    """The bid and ask one tick around a trade price."""
    return [
        Tick(at_ns, BID, round(price - SPREAD, 4), QUOTE_SIZE),
        Tick(at_ns, ASK, round(price + SPREAD, 4), QUOTE_SIZE),
    ]


def last_price(bars: DayBars, at_ns: int) -> float | None:
    """The last trade known at ``at_ns``: the latest close, else the latest open, else None."""
    step = bars.resolution_s * 1_000_000_000
    ended = int(np.searchsorted(bars.start_ns + step, at_ns, side="right"))
    started = int(np.searchsorted(bars.start_ns, at_ns, side="right"))
    if started > ended:
        return float(bars.open[started - 1])
    return float(bars.close[ended - 1]) if ended else None


_BAR_SIZE = re.compile(r"^([1-9]\d{0,4}) (sec|secs|min|mins|hour|hours)$")
_DURATION = re.compile(r"^([1-9]\d{0,7}) ([SDW])$")
_UNIT_S = {"sec": 1, "secs": 1, "min": 60, "mins": 60, "hour": 3600, "hours": 3600}
_DURATION_S = {"S": 1, "D": 86_400, "W": 7 * 86_400}
_MAX_DURATION_S = 366 * 86_400


def bar_size_seconds(text: str) -> int:
    """IB's ``barSizeSetting`` (``1 min``, ``5 mins``, ``1 hour``) in seconds."""
    match = _BAR_SIZE.match(text.strip())
    if match is None:
        raise InvalidValue("bar size", "an intraday size such as '1 min' or '5 mins'", text)
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def duration_seconds(text: str) -> int:
    """IB's ``durationStr`` (``3600 S``, ``1 D``, ``2 W``) in seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise InvalidValue("duration", "'<n> S', '<n> D' or '<n> W'", text)
    seconds = int(match.group(1)) * _DURATION_S[match.group(2)]
    if seconds > _MAX_DURATION_S:
        raise InvalidValue("duration", "at most a year", text)
    return seconds


def historical_bars(
    bars: DayBars, end: datetime, duration_s: int, size_s: int, rth: tuple[int, int] | None
) -> list[HistoricalBar]:
    """Bars of ``size_s`` seconds that ended by ``end`` within ``duration_s`` before it.

    Only whole bars are returned (the one still forming is left out); ``rth`` keeps only
    bars inside regular hours, given as ``(open_ns, close_ns)``.
    """
    if size_s % bars.resolution_s:
        raise InvalidValue(
            "bar size", f"a multiple of the replayed {bars.resolution_s} s bars", f"{size_s} s"
        )
    end_ns = to_ns(end)
    since_ns = to_ns(end - timedelta(seconds=duration_s))
    step = bars.resolution_s * 1_000_000_000
    size_ns = size_s * 1_000_000_000
    buckets: dict[int, list[int]] = {}
    for i, start in enumerate(bars.start_ns.tolist()):
        if rth is not None and not rth[0] <= start < rth[1]:
            continue
        bucket = start - (start - (rth[0] if rth else 0)) % size_ns
        if bucket < since_ns or bucket + size_ns > end_ns or start + step > end_ns:
            continue
        buckets.setdefault(bucket, []).append(i)
    out = []
    for bucket, rows in sorted(buckets.items()):
        volume = float(bars.volume[rows].sum())
        value = float((bars.close[rows] * bars.volume[rows]).sum())
        out.append(
            HistoricalBar(
                start=from_ns(bucket),
                open=float(bars.open[rows[0]]),
                high=float(bars.high[rows].max()),
                low=float(bars.low[rows].min()),
                close=float(bars.close[rows[-1]]),
                volume=volume,
                wap=round(value / volume, 4) if volume else float(bars.close[rows[-1]]),
                count=len(rows),
            )
        )
    return out
