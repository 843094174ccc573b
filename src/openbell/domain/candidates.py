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
    close. The optional facts are None when the source does not say: ``security_type`` is
    the exchange's class ("CS" for common stock, "ETF", "ADRC", "PFD", "WARRANT", ...),
    ``halted`` whether trading is halted, ``market_cap`` in dollars.
    """

    symbol: Symbol
    previous_close: Price
    last_price: Price
    premarket_volume: Decimal
    average_daily_volume: Decimal
    atr_pct: Decimal
    security_type: str | None = None
    halted: bool | None = None
    market_cap: Decimal | None = None
    sector: str | None = None

    def __post_init__(self) -> None:
        for name in ("premarket_volume", "average_daily_volume", "atr_pct"):
            if getattr(self, name) < 0:
                raise InvalidValue(f"{self.symbol} {name}", "0 or more", getattr(self, name))

    @property
    def gap_pct(self) -> Decimal:
        """The pre-market move from the previous close, in percent."""
        return (self.last_price.value / self.previous_close.value - 1) * _HUNDRED

    @property
    def premarket_dollar_volume(self) -> Decimal:
        """Dollars traded before the open, valued at the last pre-market price."""
        return self.premarket_volume * self.last_price.value

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
    scored_by: str = ""
    """Who produced the confidence when a scorer has several sources (an LLM chain ending in
    the rules): "deepseek:deepseek-chat", "rules-v1 (fallback)". Empty means the scorer."""


@dataclass(frozen=True, slots=True)
class Unscored:
    """A symbol a scorer gave no confidence to, and why (an invalid answer, a refusal, a
    provider down with no fallback left, a budget spent). It is never guessed."""

    symbol: Symbol
    reason: str


@dataclass(frozen=True, slots=True)
class ScoreBatch:
    """What a scorer made of one scan: a candidate per scored symbol, the rest unscored."""

    candidates: tuple[Candidate, ...]
    unscored: tuple[Unscored, ...] = ()
