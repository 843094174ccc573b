"""The engine's mutable records: one per accepted order, and the account (cash, positions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from openbell.domain.enums import Side
from openbell.venue.orders import OrderState, VenueOrder, VenueStatus

__all__ = ["Account", "Position", "Working"]


@dataclass(slots=True)
class Working:
    """What the engine knows about one accepted order while it works and after it ends.

    ``quantity`` starts at the order's quantity and only shrinks (OCA reduce). ``active_from_ns``
    is None while a bracket child waits for its parent; otherwise bars starting at or after it
    may fill the order. ``day`` is the session the order currently works in (None: the next one
    to be loaded). ``cursor`` is the first bar of the loaded day the order may still use.
    """

    order: VenueOrder
    seq: int
    extended: bool
    status: VenueStatus
    active_from_ns: int | None
    day: date | None
    quantity: int
    filled: int = 0
    fill_value: float = 0.0
    commission: float = 0.0
    month_shares: int | None = None
    fills: int = 0
    triggered: bool = False
    auction_done: bool = False
    ioc_index: int | None = None
    cursor: int = 0
    version: int = 0

    @property
    def remaining(self) -> int:
        return max(self.quantity - self.filled, 0)

    @property
    def average_price(self) -> float:
        return self.fill_value / self.filled if self.filled else 0.0

    def snapshot(self) -> OrderState:
        return OrderState(self.order, self.status, self.filled, self.remaining, self.average_price)


@dataclass(frozen=True, slots=True)
class Position:
    """Net shares of one symbol (negative = short) and their average cost per share.

    ``average_cost`` is the volume-weighted fill price of the shares still held, without
    commissions (IB folds commissions into its avgCost; the venue reports them per fill).
    """

    symbol: str
    quantity: int
    average_cost: float


class Account:
    """One account's cash and positions, updated on every fill. Dollars throughout."""

    def __init__(self, cash: float) -> None:
        self._cash = cash
        self._positions: dict[str, Position] = {}
        self._month_shares: dict[tuple[int, int], int] = {}

    @property
    def cash(self) -> float:
        return self._cash

    def positions(self) -> dict[str, Position]:
        """Open positions by symbol (flat symbols are left out)."""
        return {s: p for s, p in sorted(self._positions.items()) if p.quantity}

    def month_shares(self, month: tuple[int, int]) -> int:
        """Shares traded in ``(year, month)`` so far, for tiered commissions."""
        return self._month_shares.get(month, 0)

    def apply_fill(
        self,
        symbol: str,
        action: Side,
        shares: int,
        price: float,
        commission: float,
        month: tuple[int, int],
    ) -> None:
        """Book a fill: cash pays ``shares x price`` plus commission for a buy, gets it less
        commission for a sale; the position and its average cost follow."""
        signed = shares if action is Side.BUY else -shares
        self._cash -= signed * price + commission
        self._month_shares[month] = self._month_shares.get(month, 0) + shares
        held = self._positions.get(symbol, Position(symbol, 0, 0.0))
        after = held.quantity + signed
        if after == 0:
            cost = 0.0
        elif held.quantity == 0 or (held.quantity > 0) != (after > 0):
            cost = price  # opened, or flipped through zero: the new shares cost the fill price
        elif (signed > 0) == (held.quantity > 0):
            cost = (held.average_cost * abs(held.quantity) + price * shares) / abs(after)
        else:
            cost = held.average_cost  # reducing keeps the cost of what is left
        self._positions[symbol] = Position(symbol, after, cost)
