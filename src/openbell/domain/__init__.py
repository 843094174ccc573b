"""The domain: values, enums, orders, positions and sessions. Standard library only."""

from openbell.domain.enums import (
    ExitReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionRole,
    PositionState,
    Side,
    TimeInForce,
)
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import TRANSITIONS, Position, PositionEvent
from openbell.domain.sessions import Anchor, RelativeTime, Session
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol

__all__ = [
    "TRANSITIONS",
    "Anchor",
    "Confidence",
    "ExitReason",
    "Fill",
    "Money",
    "OrderIntent",
    "OrderRef",
    "OrderRole",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionEvent",
    "PositionRole",
    "PositionState",
    "Price",
    "Quantity",
    "RelativeTime",
    "Session",
    "Side",
    "Symbol",
    "TimeInForce",
]
