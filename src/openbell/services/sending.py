"""What both bots do with their own orders: send one safely, take over an earlier life's."""

from __future__ import annotations

from openbell.domain.enums import OrderStatus
from openbell.domain.errors import BrokerUnavailable
from openbell.domain.orders import OrderIntent
from openbell.domain.values import OrderRef
from openbell.ports import Broker, Ledger


def record_then_send(
    ledger: Ledger, broker: Broker, position_id: int, intent: OrderIntent, owner: str
) -> None:
    """Record the order (PENDING), then send it, so a crash in between cannot lose it.

    If the broker says it could not send it, the order is marked REJECTED at once: it
    certainly never left, and is never re-sent blindly.
    """
    ledger.record_order(position_id, intent, owner)
    try:
        broker.place(intent)
    except BrokerUnavailable as exc:
        ledger.update_order(intent.order_ref, OrderStatus.REJECTED, reason=f"not sent: {exc}")


def take_over_orders(ledger: Ledger, broker: Broker, owner: str) -> list[OrderRef]:
    """Ask the broker what became of ``owner``'s orders an earlier life left working."""
    refs = [o.order_ref for o in ledger.orders(live_only=True) if o.owner == owner]
    if refs:
        ledger.append_event(
            "RECONCILE", f"{owner}: taking over {len(refs)} working orders from an earlier start"
        )
        broker.reconcile(refs)
    return refs
