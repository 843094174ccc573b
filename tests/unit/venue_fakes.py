"""Hand-written builders for the venue tests: tiny synthetic bars, sessions and orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

import numpy as np

from openbell.bars.frame import NEW_YORK, DayBars, to_ns
from openbell.domain.enums import Side
from openbell.domain.sessions import Session
from openbell.venue import (
    Event,
    MatchingEngine,
    NoSlippage,
    Tif,
    VenueConfig,
    VenueOrder,
    VenueOrderType,
    ZeroCommission,
)

DAY = date(2026, 7, 31)  # a Friday
NEXT_DAY = date(2026, 8, 3)  # the Monday after
Row = tuple[str, float, float, float, float, float]
E = TypeVar("E")

MKT, LMT, STP, STP_LMT = (
    VenueOrderType.MKT,
    VenueOrderType.LMT,
    VenueOrderType.STP,
    VenueOrderType.STP_LMT,
)
BUY, SELL = Side.BUY, Side.SELL


def ny(clock: str, day: date = DAY) -> datetime:
    """``"09:31"`` or ``"09:31:30"`` on ``day`` in New York."""
    parts = [int(p) for p in clock.split(":")]
    return datetime.combine(day, time(*parts), tzinfo=NEW_YORK)


def session(day: date = DAY, close: str = "16:00") -> Session:
    return Session(day, ny("09:30", day), ny(close, day), early_close=close != "16:00")


def bars(symbol: str, rows: Sequence[Row], day: date = DAY, resolution_s: int = 60) -> DayBars:
    """Bars from ``(HH:MM[:SS], open, high, low, close, volume)`` rows in New York time."""
    starts = np.array([to_ns(ny(r[0], day)) for r in rows], dtype=np.int64)
    cols = [np.array([r[i] for r in rows], dtype=np.float64) for i in range(1, 6)]
    return DayBars(symbol, day, resolution_s, starts, *cols)


def flat_minutes(
    symbol: str, start: str, count: int, price: float = 10.0, volume: float = 10_000
) -> list[Row]:
    """``count`` one-minute bars from ``start`` that never move from ``price``."""
    first = ny(start)
    rows = []
    for i in range(count):
        stamp = (first + timedelta(minutes=i)).strftime("%H:%M")
        rows.append((stamp, price, price, price, price, volume))
    return rows


def order(
    order_id: int,
    order_type: VenueOrderType,
    action: Side = BUY,
    quantity: int = 100,
    *,
    symbol: str = "CYCU",
    tif: Tif = Tif.DAY,
    client_id: int = 1,
    **extra: Any,
) -> VenueOrder:
    return VenueOrder(
        order_id=order_id,
        client_id=client_id,
        symbol=symbol,
        action=action,
        quantity=quantity,
        order_type=order_type,
        tif=tif,
        **extra,
    )


def engine(**config: Any) -> MatchingEngine:
    """An engine without fees, slippage or volume cap unless the test asks for them."""
    settings: dict[str, Any] = {
        "commission": ZeroCommission(),
        "slippage": NoSlippage(),
        "max_volume_share": None,
    }
    settings.update(config)
    return MatchingEngine(VenueConfig(**settings))


def loaded(rows: Sequence[Row], symbol: str = "CYCU", **config: Any) -> MatchingEngine:
    """An engine with one symbol's bars loaded for :data:`DAY`."""
    venue = engine(**config)
    venue.load_day(session(), {symbol: bars(symbol, rows)})
    return venue


def only(events: Sequence[Event], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]
