"""Slippage: how far a fill lands from the bar price the engine picked, always adversely.

The engine hands a model the *reference* price of a fill (a bar open for market and triggered
stop fills, the opening print for the auction, the limit or a better open for limit fills) and
the :class:`FillKind`. The default, :class:`FixedBps`, moves market and stop fills 2 basis points
against the order and leaves limit and auction fills alone: a limit never fills worse than its
limit, and every auction participant gets the same single print.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from openbell.domain.enums import Side
from openbell.domain.errors import InvalidValue

__all__ = ["PRICE_DECIMALS", "FillKind", "FixedBps", "NoSlippage", "SlippageModel"]

PRICE_DECIMALS = 4


class FillKind(StrEnum):
    """Why the engine filled at the reference price."""

    MARKET = "market"
    """A MKT order, or a STP that triggered: takes whatever the market gives."""
    AUCTION = "auction"
    """The opening print: MOO/LOO, and orders parked before the open that join it."""
    LIMIT = "limit"
    """A LMT or a triggered STP LMT: never worse than its limit."""


class SlippageModel(Protocol):
    """Turn a fill's reference price into the price the order actually gets."""

    def fill_price(self, action: Side, reference: float, kind: FillKind) -> float:
        """The executed price in dollars for a fill whose bar price was ``reference``."""
        ...


@dataclass(frozen=True, slots=True)
class NoSlippage:
    """Every fill at its reference price."""

    def fill_price(self, action: Side, reference: float, kind: FillKind) -> float:
        return reference


@dataclass(frozen=True, slots=True)
class FixedBps:
    """``bps`` basis points against the order on market fills (and auctions if asked)."""

    bps: float = 2.0
    on_auction: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.bps < 10_000:
            raise InvalidValue("slippage bps", "basis points in [0, 10000)", self.bps)

    def fill_price(self, action: Side, reference: float, kind: FillKind) -> float:
        if kind is FillKind.LIMIT or (kind is FillKind.AUCTION and not self.on_auction):
            return reference
        shift = reference * self.bps / 10_000
        price = reference + shift if action is Side.BUY else reference - shift
        # IB reports executions on a 0.0001 grid at most; so does the ledger. A finer price
        # would make the ledger's P&L differ from the execution's by a rounding cent.
        return round(price, PRICE_DECIMALS)
