"""Book a position's MOO entry in a ledger the way the day-trader does, for tests that need
shares held without running a bot."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from openbell.domain.enums import OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.values import Money, OrderRef, Price
from openbell.ports import Ledger


def moo_filled(
    ledger: Ledger,
    planned: Position,
    price: str,
    at: datetime,
    *,
    ref: str | None = None,
    execution_id: str | None = None,
) -> Position:
    """Plan ``planned``, record its MOO order as sent, then book its whole fill at ``price``
    (commission $1). ``ref`` defaults to ``<symbol>-entry``, ``execution_id`` to ``<ref>.x1``."""
    position = ledger.plan_position(planned)
    order_ref = OrderRef(ref or f"{planned.symbol}-entry")
    symbol = planned.symbol
    intent = OrderIntent(
        order_ref,
        symbol,
        Side.BUY,
        planned.planned_quantity,
        OrderType.MARKET,
        TimeInForce.AT_THE_OPEN,
        OrderRole.ENTRY,
    )
    ledger.record_order(position.position_id or 0, intent, "day-trader")
    ledger.update_order(order_ref, OrderStatus.SUBMITTED)
    return ledger.record_entry_fill(
        Fill(
            execution_id or f"{order_ref}.x1",
            order_ref,
            symbol,
            Side.BUY,
            planned.planned_quantity,
            Price(Decimal(price)),
            at,
            Money(Decimal(1)),
        )
    )
