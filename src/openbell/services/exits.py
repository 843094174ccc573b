"""Turning fills into managed positions: record them, protect every share, flatten on time.

The exit manager owns every exit order (ARCHITECTURE.md §2). It never touches an order or a
position the ledger does not name: a broker event for an unknown ``order_ref`` is logged and
ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import ExitReason, OrderRole, OrderStatus, PositionState
from openbell.domain.errors import NotFound
from openbell.domain.orders import Fill
from openbell.domain.positions import Position
from openbell.domain.records import OrderRecord
from openbell.domain.values import OrderRef
from openbell.ports import Broker, Ledger
from openbell.strategy.exits import exit_prices
from openbell.strategy.management import exit_orders, flatten_order

EXIT_OWNER = "exit-manager"
MAX_PROTECT_ATTEMPTS = 10
"""Brackets per position before the exit manager stops replacing them (a broker that keeps
cancelling them must not make it loop)."""


class ExitManager:
    """Applies broker events to the ledger and keeps every held share protected."""

    def __init__(self, ledger: Ledger, broker: Broker) -> None:
        self._ledger = ledger
        self._broker = broker
        self._cancel_requested: set[str] = set()
        self._roles: dict[OrderRef, OrderRole] = {}  # an order's role never changes
        self._flattening: set[int] = set()  # positions whose flatten has begun

    def apply(self, events: Iterable[BrokerEvent], trading_day: date) -> None:
        """Record each event, oldest first; protect a position after each entry fill."""
        for event in events:
            role = self._role_of(event)
            if role is None:
                continue
            if isinstance(event, OrderUpdate):
                order = self._ledger.update_order(
                    event.order_ref,
                    event.status,
                    reason=event.reason,
                    broker_order_id=event.broker_order_id,
                )
                if (
                    role.is_exit
                    and order.status is OrderStatus.CANCELLED
                    and order.position_id not in self._flattening
                ):
                    # an exit sized for fewer shares was cancelled: protect what is held now
                    self.protect(self._ledger.position(order.position_id))
            elif role is OrderRole.ENTRY:
                position = self._ledger.record_entry_fill(event)
                self.protect(position)
            else:
                self._ledger.record_exit_fill(event, trading_day)

    def _role_of(self, event: BrokerEvent) -> OrderRole | None:
        """The role of our order the event is about, or None (logged) if it is not ours."""
        known = self._roles.get(event.order_ref)
        if known is not None:
            return known
        try:
            role = self._ledger.order(event.order_ref).role
        except NotFound:
            kind = "fill" if isinstance(event, Fill) else "order update"
            self._ledger.append_event(
                "FOREIGN", f"ignored a {kind} for {event.order_ref}: not an order openbell placed"
            )
            return None
        self._roles[event.order_ref] = role
        return role

    def protect(self, position: Position) -> None:
        """Place a target and a stop (one OCA group) for every share the position holds."""
        if position.state is not PositionState.OPEN or position.held_quantity <= 0:
            return
        pid = position.position_id or 0
        orders = self._ledger.orders(pid)
        live_exits = [o for o in orders if o.role.is_exit and not o.status.is_terminal]
        if live_exits:
            if _pair_covers(live_exits, position.held_quantity):
                return
            # More shares arrived, or one side of the pair is gone: cancel what is left; its
            # cancellation brings us back here to place a whole new pair.
            self._cancel(live_exits)
            return
        entry, target_pct, stop_pct = (
            position.entry_price,
            position.target_pct,
            position.stop_loss_pct,
        )
        if entry is None or target_pct is None or stop_pct is None:
            self._ledger.append_event(
                "UNPROTECTED",
                "no target or stop percentage recorded: only the flatten applies",
                symbol=position.symbol,
                position_id=pid,
            )
            return
        prices = exit_prices(entry, target_pct, stop_pct)
        position = self._ledger.set_exit_prices(pid, prices.target, prices.stop)
        attempt = sum(1 for o in orders if o.role is OrderRole.TARGET)
        if attempt >= MAX_PROTECT_ATTEMPTS:
            self._ledger.append_event(
                "UNPROTECTED",
                f"gave up after {attempt} target/stop pairs ended without filling; "
                "only the flatten applies: a person should look",
                symbol=position.symbol,
                position_id=pid,
            )
            return
        pair = exit_orders(position, attempt)
        for intent in (pair.target, pair.stop):
            self._ledger.record_order(pid, intent, EXIT_OWNER)
            self._broker.place(intent)

    def flatten(self) -> bool:
        """One step of the end-of-day flatten; True once nothing is held.

        Working targets and stops are cancelled first; the market sell goes out only once
        they are gone, so the two can never both fill.
        """
        done = True
        for position in self._ledger.active_positions():
            done = False
            pid = position.position_id or 0
            self._flattening.add(pid)
            live = [o for o in self._ledger.orders(pid, live_only=True) if o.role.is_exit]
            others = [o for o in live if o.role is not OrderRole.FLATTEN]
            if others:
                self._cancel(others)
            elif not live:
                self._send_flatten(position)
        return done

    def _send_flatten(self, position: Position) -> None:
        pid = position.position_id or 0
        if position.state is PositionState.OPEN:
            position = self._ledger.start_exit(pid, ExitReason.FLATTEN)
        attempt = sum(1 for o in self._ledger.orders(pid) if o.role is OrderRole.FLATTEN)
        intent = flatten_order(position, attempt)
        self._ledger.record_order(pid, intent, EXIT_OWNER)
        self._broker.place(intent)

    def _cancel(self, orders: Iterable[OrderRecord]) -> None:
        for order in orders:
            ref = str(order.order_ref)
            if ref not in self._cancel_requested:
                self._cancel_requested.add(ref)
                self._broker.cancel(order.order_ref)


def _pair_covers(live_exits: Sequence[OrderRecord], held: int) -> bool:
    """True if a working target and a working stop each cover every held share."""

    def covers(role: OrderRole) -> bool:
        return any(
            o.role is role and o.quantity.value - o.filled_quantity >= held for o in live_exits
        )

    return covers(OrderRole.TARGET) and covers(OrderRole.STOP)
