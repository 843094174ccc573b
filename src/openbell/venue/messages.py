"""IB's message codes and texts, word for word where IBKR.md quotes them (§2.2, §2.6)."""

from __future__ import annotations

from datetime import datetime

from openbell.domain.sessions import NEW_YORK
from openbell.venue.orders import VenueOrder

__all__ = [
    "CANCELLED_BY_CLIENT",
    "CODE_CANCELLED",
    "CODE_CANNOT_CANCEL",
    "CODE_DUPLICATE_ID",
    "CODE_NOT_FOUND",
    "CODE_OUTSIDE_RTH_IGNORED",
    "CODE_PARKED",
    "CODE_REJECTED",
    "EXCHANGE_CLOSED",
    "OUTSIDE_RTH_IGNORED",
    "cannot_cancel",
    "not_found",
    "parked_until",
    "rejected",
]

CODE_DUPLICATE_ID = 103
CODE_REJECTED = 201
CODE_CANCELLED = 202
CODE_PARKED = 399
CODE_OUTSIDE_RTH_IGNORED = 2109
CODE_NOT_FOUND = 10147
CODE_CANNOT_CANCEL = 10148

DUPLICATE_ID = "Duplicate order id"
CANCELLED_BY_CLIENT = "Order Canceled - reason:"
EXCHANGE_CLOSED = "Order rejected - reason:Exchange is closed."
OUTSIDE_RTH_IGNORED = (
    "Order Event Warning: Attribute 'Outside Regular Trading Hours' is ignored based on the "
    "order type and destination. PlaceOrder is now being processed."
)


def rejected(reason: str) -> str:
    """IB's 201 text: ``Order rejected - reason:<reason>``."""
    return f"Order rejected - reason:{reason}"


def parked_until(order: VenueOrder, exchange: str, until: datetime) -> str:
    """IB's 399 text for an order held until its session opens at ``until``."""
    local = until.astimezone(NEW_YORK)
    return (
        f"Order Message: {order.describe()} {exchange} Warning: Your order will not be placed "
        f"at the exchange until {local:%Y-%m-%d %H:%M:%S} US/Eastern."
    )


def not_found(order_id: int) -> str:
    """IB's 10147 text: the order is unknown to this client."""
    return f"OrderId {order_id} that needs to be cancelled is not found."


def cannot_cancel(order_id: int, state: str) -> str:
    """IB's 10148 text: the order is already in a terminal state."""
    return f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {state}."
