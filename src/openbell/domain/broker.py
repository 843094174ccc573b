"""What a broker reports back besides fills: status changes of our orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openbell.domain.enums import OrderStatus
from openbell.domain.orders import Fill, require_aware
from openbell.domain.values import OrderRef


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The broker's news about one of our orders, in our vocabulary."""

    order_ref: OrderRef
    status: OrderStatus
    at: datetime
    reason: str = ""
    broker_order_id: int | None = None

    def __post_init__(self) -> None:
        require_aware("order update time", self.at)


BrokerEvent = Fill | OrderUpdate
