"""Commission models for US stocks at Interactive Brokers (USD).

IB charges per *order*: the per-order minimum and the 1 % maximum apply once, however many
partial fills the order has. A model therefore answers "what does the whole order cost so far"
(:meth:`CommissionModel.order_commission`) for the order's cumulative shares and dollar value,
and the engine charges each fill the increase over what the order has already paid. The first
fill pays the minimum; later fills pay only what their shares add beyond it. The sum over an
order's fills equals the commission of one fill of the same total, whatever the split.

Every model must be non-decreasing in ``shares`` and ``value`` so no fill gets a refund.

IB's published schedule (ibkr.com/en/pricing/commissions-stocks.php, US, as of 2025):

* **Fixed**: USD 0.005 per share, minimum USD 1.00 per order, maximum 1 % of trade value.
  Exchange and clearing fees are included; regulatory transaction fees (SEC fee, FINRA TAF)
  are passed through on sales.
* **Tiered**: per share by month-to-date volume - up to 300,000 shares USD 0.0035;
  300,001-3,000,000 USD 0.0020; 3,000,001-20,000,000 USD 0.0015; 20,000,001-100,000,000
  USD 0.0010; above USD 0.0005. Minimum USD 0.35, maximum 1 % of trade value, plus exchange
  fees (venue and liquidity dependent, rebates possible), clearing (NSCC/DTC USD 0.00020 per
  share), pass-through fees (NYSE 0.000175 x commission, FINRA 0.00056 x commission) and the
  regulatory fees on sales (SEC about USD 27.80 per million sold; FINRA TAF USD 0.000166 per
  share sold, at most USD 8.30 per trade). These change yearly, so :class:`PassThroughFees`
  defaults them to 0 and takes them as parameters.

Approximation: the tier is fixed by the month-to-date volume before the order's first fill
(an order that crosses a tier boundary pays one rate throughout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from openbell.domain.enums import Side
from openbell.domain.errors import InvalidValue

__all__ = [
    "CommissionModel",
    "FixedCommission",
    "PassThroughFees",
    "TieredCommission",
    "ZeroCommission",
]


class CommissionModel(Protocol):
    """The commission of a whole order given what it has filled so far."""

    def order_commission(self, action: Side, shares: int, value: float, month_shares: int) -> float:
        """USD charged for an order that filled ``shares`` for ``value`` dollars in total.

        ``month_shares`` is the account's month-to-date volume before the order's first fill.
        """
        ...


@dataclass(frozen=True, slots=True)
class ZeroCommission:
    """No commission at all: for tests and for comparing against a frictionless run."""

    def order_commission(self, action: Side, shares: int, value: float, month_shares: int) -> float:
        return 0.0


@dataclass(frozen=True, slots=True)
class PassThroughFees:
    """Fees IB adds on top of its own commission, all in USD. Defaults are 0 (see module doc).

    ``of_commission`` is a fraction of IB's commission (NYSE + FINRA pass-throughs, tiered
    only); the ``*_sold`` fees apply to sales only; ``finra_taf_max`` caps the TAF per order.
    """

    exchange_per_share: float = 0.0
    clearing_per_share: float = 0.0
    of_commission: float = 0.0
    sec_per_dollar_sold: float = 0.0
    finra_taf_per_share_sold: float = 0.0
    finra_taf_max: float = 8.30

    def __post_init__(self) -> None:
        for name in (
            "exchange_per_share",
            "clearing_per_share",
            "of_commission",
            "sec_per_dollar_sold",
            "finra_taf_per_share_sold",
            "finra_taf_max",
        ):
            if getattr(self, name) < 0:
                raise InvalidValue(f"pass-through fee {name}", "0 or more", getattr(self, name))

    def amount(self, action: Side, shares: int, value: float, commission: float) -> float:
        """The pass-through fees of an order with these cumulative totals."""
        total = (self.exchange_per_share + self.clearing_per_share) * shares
        total += self.of_commission * commission
        if action is Side.SELL:
            total += self.sec_per_dollar_sold * value
            total += min(self.finra_taf_per_share_sold * shares, self.finra_taf_max)
        return total


def _capped(per_share: float, shares: int, value: float, minimum: float, max_pct: float) -> float:
    """``per_share x shares``, at least ``minimum``, at most ``max_pct`` of ``value``."""
    if shares <= 0:
        return 0.0
    return min(max(per_share * shares, minimum), max_pct * value)


def _check_rates(per_share: float, minimum: float, max_pct: float) -> None:
    if per_share < 0 or minimum < 0:
        raise InvalidValue(
            "commission rate", "a per-share rate and minimum of 0 or more", per_share
        )
    if not 0 < max_pct <= 1:
        raise InvalidValue("commission max_pct", "a fraction in (0, 1]", max_pct)


@dataclass(frozen=True, slots=True)
class FixedCommission:
    """IB Fixed: USD 0.005/share, min USD 1.00/order, max 1 % of trade value."""

    per_share: float = 0.005
    minimum: float = 1.00
    max_pct: float = 0.01
    pass_through: PassThroughFees = PassThroughFees()

    def __post_init__(self) -> None:
        _check_rates(self.per_share, self.minimum, self.max_pct)

    def order_commission(self, action: Side, shares: int, value: float, month_shares: int) -> float:
        commission = _capped(self.per_share, shares, value, self.minimum, self.max_pct)
        return commission + self.pass_through.amount(action, shares, value, commission)


IB_US_TIERS: tuple[tuple[int | None, float], ...] = (
    (300_000, 0.0035),
    (3_000_000, 0.0020),
    (20_000_000, 0.0015),
    (100_000_000, 0.0010),
    (None, 0.0005),
)
"""(month-to-date shares up to and including, USD per share); None is the open-ended top."""


@dataclass(frozen=True, slots=True)
class TieredCommission:
    """IB Tiered: per-share rate by month-to-date volume, min USD 0.35, max 1 % of value."""

    tiers: tuple[tuple[int | None, float], ...] = IB_US_TIERS
    minimum: float = 0.35
    max_pct: float = 0.01
    pass_through: PassThroughFees = PassThroughFees()

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[-1][0] is not None:
            raise InvalidValue(
                "commission tiers", "tiers ending with an open (None) tier", self.tiers
            )
        for _, rate in self.tiers:
            _check_rates(rate, self.minimum, self.max_pct)

    def rate(self, month_shares: int) -> float:
        """USD per share for an order placed after ``month_shares`` shares this month."""
        for up_to, per_share in self.tiers:
            if up_to is None or month_shares < up_to:
                return per_share
        return self.tiers[-1][1]  # pragma: no cover - the last tier is open-ended

    def order_commission(self, action: Side, shares: int, value: float, month_shares: int) -> float:
        commission = _capped(self.rate(month_shares), shares, value, self.minimum, self.max_pct)
        return commission + self.pass_through.amount(action, shares, value, commission)
