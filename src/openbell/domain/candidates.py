"""What the scanner sees of a symbol before the open, and what a scorer makes of it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from openbell.domain.errors import InvalidValue
from openbell.domain.values import Confidence, Price, Symbol

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class PremarketFeatures:
    """Pre-market facts of one symbol, all known before the scan time.

    ``last_price`` is the last pre-market trade (or the previous close if there was none);
    volumes are shares; ``atr_pct`` is the 14-day average true range as % of the previous
    close.
    """

    symbol: Symbol
    previous_close: Price
    last_price: Price
    premarket_volume: Decimal
    average_daily_volume: Decimal
    atr_pct: Decimal

    def __post_init__(self) -> None:
        for name in ("premarket_volume", "average_daily_volume", "atr_pct"):
            if getattr(self, name) < 0:
                raise InvalidValue(f"{self.symbol} {name}", "0 or more", getattr(self, name))

    @property
    def gap_pct(self) -> Decimal:
        """The pre-market move from the previous close, in percent."""
        return (self.last_price.value / self.previous_close.value - 1) * _HUNDRED

    @property
    def relative_volume(self) -> Decimal:
        """Pre-market volume as a share of an average full day's volume."""
        if self.average_daily_volume == 0:
            return Decimal(0)
        return self.premarket_volume / self.average_daily_volume


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored symbol before the open. ``reference_price`` is the last pre-market price."""

    symbol: Symbol
    confidence: Confidence
    reference_price: Price
    reason: str = ""
