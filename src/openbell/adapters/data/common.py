"""What the live providers' adapters (Massive, FMP) share: the scan's rules (which sessions
of history, when a symbol is left out and how that is logged, how a row of features is
built) and the BarFetcher's (only days that are over, bars as the store keeps them)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol, Self

import numpy as np

from openbell.bars.frame import F64, Basis, DailyBars, DayBars
from openbell.bars.history import ATR_DAYS, VOLUME_DAYS, DailyHistory
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import InvalidValue, RefusedInput
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Price, Symbol, decimal_from_float
from openbell.ports import Calendar, Clock

HISTORY_SESSIONS = max(VOLUME_DAYS, ATR_DAYS + 1)
"""Enough sessions for the 20-day volume and the 14-day ATR (15 closes) to be exactly the
backtester's: DailyHistory's windows never look further back."""
_DETAILED_LOG = 20
"""Up to this many symbols left out, each is logged at INFO; more: a summary at INFO."""


class Closing:
    """An object that owns a connection: ``with`` closes it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the scan --------------------------------------------------------------------------------
class LiveOnly(RefusedInput):
    """A live provider was asked about a moment its snapshot or quotes cannot see (another
    day, or a scan time long past): replay those from the bar store instead."""


class LeftOut(Exception):
    """A symbol left out of the scan, and why."""


def previous_sessions(calendar: Calendar, trading_day: date) -> list[date]:
    """The HISTORY_SESSIONS sessions before ``trading_day``, oldest first."""
    days: list[date] = []
    day = trading_day
    for _ in range(HISTORY_SESSIONS):
        day = calendar.previous_session(day).trading_day
        days.append(day)
    return days[::-1]


def history_row(history: DailyHistory, trading_day: date) -> int:
    """The row of ``history`` that describes ``trading_day``; LeftOut if there is none."""
    i = history.position(trading_day)
    if i is None:
        raise LeftOut("fewer than two sessions of history")
    return i


def features(
    symbol: str,
    history: DailyHistory,
    i: int,
    previous_close: float,
    last: float | None,
    volume: float,
    *,
    basis_factor: float = 1.0,
    security_type: str | None,
    market_cap: Decimal | None = None,
    sector: str | None = None,
) -> PremarketFeatures:
    """``symbol``'s scan row: ATR% and 20-day average volume from ``history`` at row ``i``
    (the average divided by ``basis_factor``, today's split basis), the last price (the
    previous close if nothing traded today). A value that cannot be used: LeftOut."""
    atr_pct, average_volume = float(history.atr_pct[i]), float(history.average_volume[i])
    if not (math.isfinite(atr_pct) and math.isfinite(average_volume)):
        raise LeftOut(f"history without an ATR or average volume ({atr_pct}, {average_volume})")
    try:
        return PremarketFeatures(
            Symbol(symbol),
            Price.from_float(previous_close, 4),
            Price.from_float(last if last is not None else previous_close, 4),
            Decimal(int(volume)),
            Decimal(int(average_volume / basis_factor)),
            decimal_from_float(atr_pct, 4),
            security_type=security_type,
            halted=None,
            market_cap=market_cap,
            sector=sector,
        )
    except InvalidValue as exc:
        raise LeftOut(str(exc)) from None


def log_skipped(
    log: logging.Logger, provider: str, skipped: dict[str, str], asked: int, noun: str
) -> None:
    """Log the symbols a scan left out: each at INFO if they are few, else each at DEBUG and
    a summary of the three commonest reasons at INFO. ``noun``: "tickers", "symbols"."""
    if len(skipped) <= _DETAILED_LOG:
        for name, why in sorted(skipped.items()):
            log.info("%s scan: left out %s: %s", provider, name, why)
        return
    for name, why in sorted(skipped.items()):
        log.debug("%s scan: left out %s: %s", provider, name, why)
    reasons = Counter(why.split(" (")[0] for why in skipped.values()).most_common(3)
    summary = "; ".join(f"{count} {why}" for why, count in reasons)
    log.info("%s scan: left out %d of %d %s: %s", provider, len(skipped), asked, noun, summary)


def ny_day(epoch_s: float) -> date:
    """The New York date of an instant in Unix seconds."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).astimezone(NEW_YORK).date()


# --- the BarFetcher of `openbell data fetch` -------------------------------------------------
class Ohlcv(Protocol):
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...


def last_settled(end: date, clock: Clock) -> date:
    """``end``, or yesterday in New York if ``end`` is not over: today's bar is not final."""
    return min(end, _today(clock) - timedelta(days=1))


def require_over(symbol: str, day: date, clock: Clock) -> None:
    """Refuse the minute bars of a day that is not over in New York."""
    today = _today(clock)
    if day >= today:
        raise RefusedInput(
            f"{symbol} {day}: expected a day that is over (before {today} in New York), "
            f"found {day}; its minute bars are not final yet"
        )


def daily_bars(
    symbol: str, days: Sequence[date], bars: Sequence[Ohlcv], basis: Basis, source: str
) -> DailyBars:
    """Daily bars as the provider gives them, oldest first (checked like any bars)."""
    day_array = np.array(days, dtype="datetime64[D]")
    return DailyBars(symbol, day_array, *ohlcv(bars), basis=basis, source=source)


def minute_bars(
    symbol: str, day: date, starts_ns: Sequence[int], bars: Sequence[Ohlcv], source: str
) -> DayBars:
    """Unadjusted one-minute bars of ``day``, oldest first (checked like any bars)."""
    starts = np.array(starts_ns, dtype=np.int64)
    return DayBars(symbol, day, 60, starts, *ohlcv(bars), basis=Basis.RAW, source=source)


def ohlcv(bars: Sequence[Ohlcv]) -> tuple[F64, F64, F64, F64, F64]:
    """The open, high, low, close and volume columns of ``bars``."""

    def column(name: str) -> F64:
        return np.array([getattr(bar, name) for bar in bars], dtype=np.float64)

    return column("open"), column("high"), column("low"), column("close"), column("volume")


def _today(clock: Clock) -> date:
    return clock.now().astimezone(NEW_YORK).date()
