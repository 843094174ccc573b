"""A managed position and its lifecycle.

A :class:`Position` is immutable; every change returns a new one and goes through
:data:`TRANSITIONS`, the only place that says which state follows which event. A pair
missing from the table raises :class:`IllegalTransition`.

Quantities are accounted per position: ``held_quantity`` is what *this position* holds,
whatever else the account holds in the same symbol, and no exit may sell more than it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from openbell.domain.enums import ExitReason, PositionRole, PositionState
from openbell.domain.errors import IllegalTransition, InvalidValue, Oversell
from openbell.domain.orders import require_aware
from openbell.domain.values import Confidence, Money, Price, Quantity, Symbol


class PositionEvent(StrEnum):
    SUBMIT_ENTRY = "SUBMIT_ENTRY"
    ENTRY_FILLED = "ENTRY_FILLED"
    ENTRY_FAILED = "ENTRY_FAILED"
    ABANDON = "ABANDON"
    ADOPT = "ADOPT"
    START_EXIT = "START_EXIT"
    EXIT_ABORTED = "EXIT_ABORTED"
    EXIT_PARTIALLY_FILLED = "EXIT_PARTIALLY_FILLED"
    EXIT_FILLED = "EXIT_FILLED"
    RELEASE = "RELEASE"


_S = PositionState
_E = PositionEvent

TRANSITIONS: Mapping[tuple[PositionState, PositionEvent], PositionState] = MappingProxyType(
    {
        (_S.PLANNED, _E.SUBMIT_ENTRY): _S.ENTRY_SUBMITTED,
        (_S.PLANNED, _E.ABANDON): _S.ABANDONED,
        (_S.PLANNED, _E.ADOPT): _S.OPEN,
        (_S.ENTRY_SUBMITTED, _E.ENTRY_FILLED): _S.OPEN,
        (_S.ENTRY_SUBMITTED, _E.ENTRY_FAILED): _S.ABANDONED,
        # More entry fills may follow the first (a partial auction fill, then the rest).
        (_S.OPEN, _E.ENTRY_FILLED): _S.OPEN,
        (_S.EXITING, _E.ENTRY_FILLED): _S.EXITING,
        # IB can report a fill after a cancel was acknowledged: the shares are ours and must be
        # managed, so a late entry fill revives an abandoned position instead of being dropped.
        (_S.ABANDONED, _E.ENTRY_FILLED): _S.OPEN,
        # The same late fill can follow the sale of the shares filled before it (the target
        # hit, then the rest of the entry is reported): it reopens the position.
        (_S.CLOSED, _E.ENTRY_FILLED): _S.OPEN,
        (_S.OPEN, _E.START_EXIT): _S.EXITING,
        (_S.EXITING, _E.EXIT_ABORTED): _S.OPEN,
        # Resting targets and stops can fill while OPEN; a flatten or kill fills while EXITING.
        (_S.OPEN, _E.EXIT_PARTIALLY_FILLED): _S.OPEN,
        (_S.EXITING, _E.EXIT_PARTIALLY_FILLED): _S.EXITING,
        (_S.OPEN, _E.EXIT_FILLED): _S.CLOSED,
        (_S.EXITING, _E.EXIT_FILLED): _S.CLOSED,
        (_S.OPEN, _E.RELEASE): _S.RELEASED,
    }
)


def next_state(state: PositionState, event: PositionEvent) -> PositionState:
    """Look up the state that ``event`` leads to from ``state``, or raise."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        allowed = tuple(sorted(e for (s, e) in TRANSITIONS if s is state))
        raise IllegalTransition("position", state, event, allowed) from None


def _frozen_metadata(metadata: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(metadata or {}))


@dataclass(frozen=True, slots=True)
class Position:
    """One position the ledger manages, with its entry and exit facts.

    Percentages are in percent units: ``target_pct=2.6`` means +2.6 % above the entry.
    """

    trading_day: date
    symbol: Symbol
    role: PositionRole
    planned_quantity: Quantity
    state: PositionState = PositionState.PLANNED
    position_id: int | None = None
    confidence: Confidence | None = None
    target_pct: Decimal | None = None
    stop_loss_pct: Decimal | None = None
    target_price: Price | None = None
    stop_price: Price | None = None
    entry_quantity: int = 0
    entry_cost: Decimal = Decimal(0)
    exit_quantity: int = 0
    exit_proceeds: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    closed_day: date | None = None
    exit_reason: ExitReason | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata))
        if self.exit_quantity > self.entry_quantity:
            raise InvalidValue(
                f"{self.symbol} exit_quantity",
                f"at most the {self.entry_quantity} bought",
                self.exit_quantity,
            )

    # --- queries -------------------------------------------------------------------------

    @property
    def held_quantity(self) -> int:
        """Shares this position holds now: bought minus sold."""
        return self.entry_quantity - self.exit_quantity

    @property
    def entry_price(self) -> Price | None:
        """Average entry price, or None before the first entry fill."""
        if self.entry_quantity == 0:
            return None
        return Price(self.entry_cost / self.entry_quantity)

    @property
    def exit_price(self) -> Price | None:
        """Average exit price, or None before the first exit fill."""
        if self.exit_quantity == 0:
            return None
        return Price(self.exit_proceeds / self.exit_quantity)

    @property
    def realized_pnl(self) -> Money:
        """P&L of the shares sold so far, net of every commission paid."""
        if self.exit_quantity == 0:
            return Money(-self.commissions)
        cost_of_sold = self.entry_cost * self.exit_quantity / self.entry_quantity
        return Money(self.exit_proceeds - cost_of_sold - self.commissions)

    # --- lifecycle -----------------------------------------------------------------------

    def _moved(self, event: PositionEvent, **changes: Any) -> Position:
        return replace(self, state=next_state(self.state, event), **changes)

    def submit_entry(self) -> Position:
        return self._moved(PositionEvent.SUBMIT_ENTRY)

    def abandon(self) -> Position:
        """Give up a planned entry that was never sent."""
        return self._moved(PositionEvent.ABANDON)

    def entry_failed(self) -> Position:
        """The entry order ended with nothing filled (rejected, cancelled, unfilled)."""
        return self._moved(PositionEvent.ENTRY_FAILED)

    def adopt(self, price: Price, at: datetime) -> Position:
        """Bring an outside holding under management at a stated cost."""
        require_aware("adopted_at", at)
        qty = self.planned_quantity.value
        return self._moved(
            PositionEvent.ADOPT, entry_quantity=qty, entry_cost=price.value * qty, opened_at=at
        )

    def record_entry_fill(self, quantity: Quantity, price: Price, at: datetime) -> Position:
        """Add bought shares; a closed position they reach is open again until sold."""
        require_aware("entry executed_at", at)
        reopened = self.state is PositionState.CLOSED
        return self._moved(
            PositionEvent.ENTRY_FILLED,
            entry_quantity=self.entry_quantity + quantity.value,
            entry_cost=self.entry_cost + price.value * quantity.value,
            opened_at=self.opened_at or at,
            exit_reason=None if reopened else self.exit_reason,
            closed_at=None if reopened else self.closed_at,
            closed_day=None if reopened else self.closed_day,
        )

    def start_exit(self, reason: ExitReason) -> Position:
        return self._moved(PositionEvent.START_EXIT, exit_reason=reason)

    def exit_aborted(self) -> Position:
        """The exit order ended unfilled; the position is still held."""
        return self._moved(PositionEvent.EXIT_ABORTED, exit_reason=None)

    def record_exit_fill(
        self, quantity: Quantity, price: Price, at: datetime, reason: ExitReason, day: date
    ) -> Position:
        """Account for a sell; refuse one that would sell more than this position holds."""
        require_aware("exit executed_at", at)
        if quantity.value > self.held_quantity:
            raise Oversell(
                f"{self.symbol} position {self.position_id}: exit of {quantity.value} shares "
                f"expected at most the {self.held_quantity} it holds"
            )
        remaining = self.held_quantity - quantity.value
        event = PositionEvent.EXIT_FILLED if remaining == 0 else PositionEvent.EXIT_PARTIALLY_FILLED
        closing = remaining == 0
        return self._moved(
            event,
            exit_quantity=self.exit_quantity + quantity.value,
            exit_proceeds=self.exit_proceeds + price.value * quantity.value,
            exit_reason=reason,
            closed_at=at if closing else None,
            closed_day=day if closing else None,
        )

    def release(self) -> Position:
        """Hand the shares back to the user; openbell stops managing them."""
        return self._moved(PositionEvent.RELEASE)

    def add_commission(self, commission: Money) -> Position:
        return replace(self, commissions=self.commissions + commission.amount)

    def with_exit_prices(self, target_price: Price, stop_price: Price) -> Position:
        return replace(self, target_price=target_price, stop_price=stop_price)
