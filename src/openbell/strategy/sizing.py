"""Position sizing: how many shares an allocation buys."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

from openbell.domain.errors import InvalidValue
from openbell.domain.values import Money, Price, Quantity

_HUNDRED = Decimal(100)


def shares_for_allocation(
    net_liquidation: Money, allocation_pct: Decimal, reference_price: Price
) -> Quantity | None:
    """Whole shares that ``allocation_pct`` % of ``net_liquidation`` buys at ``reference_price``.

    Return None when the allocation does not buy a single share: the caller must not enter.
    """
    if not Decimal(0) < allocation_pct <= _HUNDRED:
        raise InvalidValue("allocation_pct", "a percentage above 0 and at most 100", allocation_pct)
    if net_liquidation.amount <= 0:
        return None
    budget = net_liquidation.amount * allocation_pct / _HUNDRED
    shares = int((budget / reference_price.value).to_integral_value(rounding=ROUND_FLOOR))
    return Quantity(shares) if shares > 0 else None


def shares_per_pick(
    equity: Money, allocation_pct: Decimal, prices: Sequence[Price]
) -> list[Quantity | None]:
    """Each pick gets ``allocation_pct`` % of ``equity``; never more than the whole equity in
    total: with more picks than fit, the allocation is split evenly across them."""
    if not prices:
        return []
    per_pick_pct = min(allocation_pct, _HUNDRED / len(prices))
    return [shares_for_allocation(equity, per_pick_pct, price) for price in prices]


def shares_within_equity(
    equity: Money, allocation_pct: Decimal, reference_price: Price, committed: Decimal
) -> Quantity | None:
    """Shares for one more position: ``allocation_pct`` % of ``equity``, but never more than
    what ``committed`` (the cost of what is already held) leaves of the equity.

    Return None when that buys no share.
    """
    if equity.amount <= 0:
        return None
    free_pct = _HUNDRED * (equity.amount - committed) / equity.amount
    budget_pct = min(allocation_pct, free_pct)
    if budget_pct <= 0:
        return None
    return shares_for_allocation(equity, budget_pct, reference_price)
