"""What we ask a venue to do (:class:`OrderIntent`) and what it did (:class:`Fill`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openbell.domain.enums import OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.errors import IllegalTransition, InvalidValue
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol

_NEEDS_LIMIT = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_NEEDS_STOP = (OrderType.STOP, OrderType.STOP_LIMIT)
_AUCTION_TYPES = (OrderType.MARKET, OrderType.LIMIT)
_RTH_EXTENDABLE = (OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)


def require_aware(what: str, instant: datetime) -> None:
    """Refuse a naive datetime: every instant in openbell carries its timezone."""
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise InvalidValue(what, "a timezone-aware datetime", instant)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One order we intend to place, complete and self-consistent.

    openbell only trades long: entries buy, every exit sells. ``AT_THE_OPEN`` is the
    auction time-in-force (a MOO is ``MARKET`` + ``AT_THE_OPEN``).
    """

    order_ref: OrderRef
    symbol: Symbol
    side: Side
    quantity: Quantity
    order_type: OrderType
    time_in_force: TimeInForce
    role: OrderRole
    limit_price: Price | None = None
    stop_price: Price | None = None
    outside_rth: bool = False
    oca_group: str | None = None

    def __post_init__(self) -> None:
        self._check_prices()
        self._check_side()
        self._check_time_in_force()

    def _check_prices(self) -> None:
        kind = self.order_type
        if (self.limit_price is not None) != (kind in _NEEDS_LIMIT):
            need = "a limit price" if kind in _NEEDS_LIMIT else "no limit price"
            raise InvalidValue(f"{kind} order limit_price", need, self.limit_price)
        if (self.stop_price is not None) != (kind in _NEEDS_STOP):
            need = "a stop price" if kind in _NEEDS_STOP else "no stop price"
            raise InvalidValue(f"{kind} order stop_price", need, self.stop_price)

    def _check_side(self) -> None:
        expected = Side.BUY if self.role is OrderRole.ENTRY else Side.SELL
        if self.side is not expected:
            raise InvalidValue(f"{self.role} order side", str(expected), str(self.side))

    def _check_time_in_force(self) -> None:
        tif = self.time_in_force
        if tif is TimeInForce.AT_THE_OPEN and self.order_type not in _AUCTION_TYPES:
            raise InvalidValue("AT_THE_OPEN order type", "MARKET or LIMIT", str(self.order_type))
        if self.outside_rth and (
            self.order_type not in _RTH_EXTENDABLE or tif is TimeInForce.AT_THE_OPEN
        ):
            raise InvalidValue(
                "outside_rth",
                "only on LIMIT, STOP or STOP_LIMIT orders that are not AT_THE_OPEN",
                f"{self.order_type}/{tif}",
            )

    @property
    def is_market_on_open(self) -> bool:
        return self.order_type is OrderType.MARKET and self.time_in_force is TimeInForce.AT_THE_OPEN


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution reported by the venue. ``execution_id`` is unique across all fills."""

    execution_id: str
    order_ref: OrderRef
    symbol: Symbol
    side: Side
    quantity: Quantity
    price: Price
    executed_at: datetime
    commission: Money | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.execution_id, str) or not self.execution_id.strip():
            raise InvalidValue("execution_id", "a non-empty execution id", self.execution_id)
        require_aware("executed_at", self.executed_at)

    @property
    def notional(self) -> Money:
        """Price times quantity, before commission."""
        return Money(self.price.value * self.quantity.value)


_ORDER_STEPS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    {
        (OrderStatus.PENDING, OrderStatus.SUBMITTED),
        (OrderStatus.PENDING, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.PENDING, OrderStatus.FILLED),
        (OrderStatus.PENDING, OrderStatus.CANCELLED),
        (OrderStatus.PENDING, OrderStatus.REJECTED),
        (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.SUBMITTED, OrderStatus.FILLED),
        (OrderStatus.SUBMITTED, OrderStatus.CANCELLED),
        (OrderStatus.SUBMITTED, OrderStatus.REJECTED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELLED),
        # The broker's truth wins: IB can report fills after it acknowledged a cancel.
        (OrderStatus.CANCELLED, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.CANCELLED, OrderStatus.FILLED),
    }
)


def next_order_status(current: OrderStatus, reported: OrderStatus) -> OrderStatus:
    """The status after the broker reports ``reported``; a repeat is a no-op."""
    if current is reported or (current, reported) in _ORDER_STEPS:
        return reported
    allowed = tuple(sorted(r for (c, r) in _ORDER_STEPS if c is current))
    raise IllegalTransition("order", current, reported, allowed)
