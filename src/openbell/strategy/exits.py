"""Exit rules: the profit target tier for a confidence, and target/stop prices from a fill."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from openbell.domain.errors import InvalidValue
from openbell.domain.values import Confidence, Price

_HUNDRED = Decimal(100)
_PENNY = Decimal("0.01")
_SUB_PENNY = Decimal("0.0001")
_ONE_DOLLAR = Decimal(1)


@dataclass(frozen=True, slots=True)
class TargetTier:
    """Confidence at or above ``min_confidence`` (strictly above if not ``inclusive``)
    earns a profit target of ``target_pct`` percent above the entry."""

    min_confidence: Decimal
    target_pct: Decimal
    inclusive: bool = True

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.min_confidence <= Decimal(1):
            raise InvalidValue("tier min_confidence", "a number from 0 to 1", self.min_confidence)
        if self.target_pct <= 0:
            raise InvalidValue("tier target_pct", "a percentage above 0", self.target_pct)

    def admits(self, confidence: Confidence) -> bool:
        if self.inclusive:
            return confidence.value >= self.min_confidence
        return confidence.value > self.min_confidence


def target_pct_for(confidence: Confidence, tiers: Sequence[TargetTier]) -> Decimal | None:
    """The target of the highest tier that admits ``confidence``; None means do not enter."""
    ranked = sorted(tiers, key=lambda t: (t.min_confidence, not t.inclusive), reverse=True)
    for tier in ranked:
        if tier.admits(confidence):
            return tier.target_pct
    return None


def tick_size(price: Decimal) -> Decimal:
    """The minimum price increment for US stocks: $0.01 from $1 up, $0.0001 below (Reg NMS)."""
    return _PENNY if price >= _ONE_DOLLAR else _SUB_PENNY


def round_to_tick(price: Decimal) -> Price:
    """Round a price to the nearest valid tick, half up."""
    tick = tick_size(price)
    return Price((price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick)


@dataclass(frozen=True, slots=True)
class ExitPrices:
    target: Price
    stop: Price


def exit_prices(entry: Price, target_pct: Decimal, stop_loss_pct: Decimal) -> ExitPrices:
    """Target ``target_pct`` % above and stop ``stop_loss_pct`` % below the real entry price."""
    if target_pct <= 0:
        raise InvalidValue("target_pct", "a percentage above 0", target_pct)
    if not Decimal(0) < stop_loss_pct < _HUNDRED:
        raise InvalidValue("stop_loss_pct", "a percentage between 0 and 100", stop_loss_pct)
    target = round_to_tick(entry.value * (1 + target_pct / _HUNDRED))
    stop = round_to_tick(entry.value * (1 - stop_loss_pct / _HUNDRED))
    return ExitPrices(target=target, stop=stop)
