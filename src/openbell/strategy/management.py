"""Managing a held position: its protective orders, the flatten, and the smart shutdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from openbell.domain.enums import (
    ExitReason,
    OrderRole,
    OrderType,
    PositionRole,
    PositionState,
    Side,
    TimeInForce,
)
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import OrderIntent
from openbell.domain.positions import Position
from openbell.domain.values import OrderRef, Price, Quantity
from openbell.strategy.schedule import DayTimeline


@dataclass(frozen=True, slots=True)
class ExitOrders:
    """A target and a stop for the same shares, in one OCA group: one cancels the other."""

    target: OrderIntent
    stop: OrderIntent


def order_ref(position: Position, role: OrderRole, attempt: int = 0) -> OrderRef:
    """Our reference for the ``attempt``-th order of ``role`` for ``position`` (IB orderRef):
    ``ob-<day>-<symbol>-<position id>-<role>[-<attempt>]``."""
    suffix = f"-{attempt}" if attempt else ""
    return OrderRef(
        f"ob-{position.trading_day:%Y%m%d}-{position.symbol}-{position.position_id}"
        f"-{role.lower()}{suffix}"
    )


def exit_orders(position: Position, attempt: int = 0) -> ExitOrders:
    """The protective pair for every share ``position`` holds, at its recorded prices.

    Both are DAY orders: openbell is flat by the close, and a DAY order cannot outlive a
    crash into the next session.
    """
    if position.target_price is None or position.stop_price is None:
        raise InvalidValue(f"{position.symbol} exit prices", "a target and a stop", None)
    if position.held_quantity <= 0:
        raise InvalidValue(f"{position.symbol} held quantity", "shares to protect", 0)
    shares = Quantity(position.held_quantity)
    group = f"oca-{position.trading_day:%Y%m%d}-{position.position_id}-{attempt}"
    target = OrderIntent(
        order_ref(position, OrderRole.TARGET, attempt),
        position.symbol,
        Side.SELL,
        shares,
        OrderType.LIMIT,
        TimeInForce.DAY,
        OrderRole.TARGET,
        limit_price=position.target_price,
        oca_group=group,
    )
    stop = OrderIntent(
        order_ref(position, OrderRole.STOP, attempt),
        position.symbol,
        Side.SELL,
        shares,
        OrderType.STOP,
        TimeInForce.DAY,
        OrderRole.STOP,
        stop_price=position.stop_price,
        oca_group=group,
    )
    return ExitOrders(target, stop)


def flatten_order(position: Position, attempt: int = 0) -> OrderIntent:
    """A market sell of every share the position holds."""
    return market_exit(position, OrderRole.FLATTEN, attempt)


def crossed_level(position: Position, price: Price) -> OrderRole | None:
    """Which exit a trade at ``price`` triggers for ``position``: TARGET at or above the
    target, STOP at or below the stop, else None (also None without recorded prices)."""
    if position.target_price is None or position.stop_price is None:
        return None
    if price.value >= position.target_price.value:
        return OrderRole.TARGET
    if price.value <= position.stop_price.value:
        return OrderRole.STOP
    return None


def market_exit(position: Position, role: OrderRole, attempt: int = 0) -> OrderIntent:
    """A DAY market sell of every share held, as the ``role`` exit (the monitored mode)."""
    if not role.is_exit:
        raise InvalidValue("monitored exit role", "TARGET, STOP or FLATTEN", role)
    return OrderIntent(
        order_ref(position, role, attempt),
        position.symbol,
        Side.SELL,
        Quantity(position.held_quantity),
        OrderType.MARKET,
        TimeInForce.DAY,
        role,
    )


def must_flatten(now: datetime, timeline: DayTimeline) -> bool:
    """True from the configured flatten time (``close - 15m`` by default) onwards."""
    return now >= timeline.flatten


def day_is_done(positions: Sequence[Position]) -> bool:
    """Smart shutdown: every master position of the day closed at its target.

    A day with no master position is not "done": nothing was achieved, and entries may
    still be allowed (for example an approved rescan).
    """
    masters = [
        p
        for p in positions
        if p.role is PositionRole.MASTER and p.state is not PositionState.ABANDONED
    ]
    return bool(masters) and all(
        p.state is PositionState.CLOSED and p.exit_reason is ExitReason.TARGET for p in masters
    )
