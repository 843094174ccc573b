"""Turning fills into managed positions: record them, protect every share, flatten on time.

The exit manager owns every exit order (ARCHITECTURE.md §2). It never touches an order or a
position the ledger does not name: a broker event for an unknown ``order_ref`` is logged and
ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta

from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import ExitReason, OrderRole, OrderStatus, PositionState
from openbell.domain.errors import NotFound, ProtectedSymbol, RefusedInput
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.records import OrderRecord
from openbell.domain.values import OrderRef
from openbell.ports import Broker, Clock, Ledger
from openbell.services.sending import record_then_send, take_over_orders
from openbell.strategy.exits import exit_prices
from openbell.strategy.management import exit_orders, flatten_order

log = logging.getLogger(__name__)
_NOT_ENTERED = (PositionState.PLANNED, PositionState.ENTRY_SUBMITTED)

EXIT_OWNER = "exit-manager"
MAX_PROTECT_ATTEMPTS = 10
"""Target/stop pairs ended without a single fill before the exit manager stops replacing them
(a broker that keeps cancelling them must not make it loop). A pair whose target sold shares
does not count: a target filled in part is replaced on purpose (see
``ExitManager._after_exit_fill``)."""
REPLACE_AFTER = timedelta(seconds=15)
"""How long after a target/stop pair ended unfilled a new one may be sent: IB can report an
order's fill after its cancel (IBKR.md §2, items 6 and 7), and a new pair sent meanwhile
would sell the same shares twice."""


class ExitManager:
    """Applies broker events to the ledger and keeps every held share protected."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        *,
        resting_exits: bool = True,
        clock: Clock | None = None,
        replace_after: timedelta = REPLACE_AFTER,
    ) -> None:
        """``resting_exits`` False is the monitored mode: :meth:`protect` only records the
        target and stop prices, and a tape watch sends the exit when a price crosses one."""
        self._ledger = ledger
        self._broker = broker
        self._resting = resting_exits
        self._clock = clock
        self._replace_after = replace_after
        self._cancel_requested: set[str] = set()
        self._roles: dict[OrderRef, OrderRole] = {}  # an order's role never changes
        self._flattening: set[int] = set()  # positions whose flatten has begun
        self._warned: set[int] = set()  # positions already reported unprotected
        self._refused: dict[int, tuple[str, str]] = {}  # refused exits: id -> (symbol, why)

    def start(self) -> list[OrderRef]:
        """Take over the exit orders an earlier life left working; return their refs."""
        return take_over_orders(self._ledger, self._broker, EXIT_OWNER)

    def apply(self, events: Iterable[BrokerEvent], trading_day: date) -> None:
        """Record each event, oldest first; protect a position after each entry fill.

        An event the ledger refuses (it leaves a REFUSED event saying why) is skipped, so
        one bad report cannot stop the others from being booked.
        """
        for event in events:
            try:
                self._apply_one(event, trading_day)
            except RefusedInput as exc:
                log.warning("ledger refused %s: %s", type(event).__name__, exc)

    def _apply_one(self, event: BrokerEvent, trading_day: date) -> None:
        role = self._role_of(event)
        if role is not None:
            if isinstance(event, OrderUpdate):
                self._apply_update(event, role)
            elif role is OrderRole.ENTRY:
                self.protect(self._ledger.record_entry_fill(event))
            else:
                self._after_exit_fill(self._ledger.record_exit_fill(event, trading_day), role)

    def _after_exit_fill(self, position: Position, role: OrderRole) -> None:
        """An exit filled: end what is left of the position's exits that could still sell.

        A target and its stop are one OCA group (reduce with block): IB shrinks or cancels the
        other side after each fill of a member. But the sides go out one after the other, and a
        target (or stop) that is marketable when it arrives can fill before the other side
        joins; what a member that joins after a fill is sized to, IB's documentation does not
        say. The 200-day chaos run's simulated gateway left it whole, and on two days the late
        stop then sold shares openbell no longer held. So openbell ends the other side itself:

        * the position is closed: every exit still working is cancelled;
        * a target filled in part: both sides are cancelled, and a new pair for the shares
          still held follows after ``replace_after`` (the price is at the target then, far
          from the stop);
        * a stop filled in part is a market sale under way: the target is cancelled and the
          stop is left to finish (see :meth:`_protect`).

        A side IB had already cancelled answers the cancel with 10147/10148, which the broker
        adapter reconciles.
        """
        pid = position.position_id or 0
        if role is OrderRole.ENTRY or pid in self._flattening:
            return
        live = [o for o in self._ledger.orders(pid, live_only=True) if o.role.is_exit]
        if position.held_quantity <= 0:
            ending, why = live, "it holds nothing now"
        elif position.state is PositionState.OPEN and role in (OrderRole.TARGET, OrderRole.STOP):
            ending = [o for o in live if role is OrderRole.TARGET or o.role is not OrderRole.STOP]
            why = f"its {role.value.lower()} filled in part, {position.held_quantity} still held"
        else:
            return
        if ending:
            refs = ", ".join(str(o.order_ref) for o in ending)
            log.info("%s position %s: %s; cancelling %s", position.symbol, pid, why, refs)
            self._cancel(ending)

    def _apply_update(self, event: OrderUpdate, role: OrderRole) -> None:
        order = self._ledger.update_order(
            event.order_ref,
            event.status,
            reason=event.reason,
            broker_order_id=event.broker_order_id,
        )
        if role.is_exit and order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            # an exit sized for fewer shares was cancelled: protect what is held now
            self.protect(self._ledger.position(order.position_id))

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
        """Place a target and a stop (one OCA group) for every share the position holds.

        A position in a symbol protected since it was entered is left alone (reported once):
        the ledger refuses every exit order for it, and a person must decide.
        """
        pid = position.position_id or 0
        if (
            position.state is not PositionState.OPEN
            or position.held_quantity <= 0
            or pid in self._flattening
            or pid in self._refused
        ):
            return
        try:
            self._refuse_protected(position)
            self._protect(position)
        except ProtectedSymbol as exc:
            self._leave_alone(position, exc)

    def _refuse_protected(self, position: Position) -> None:
        """Raise ProtectedSymbol before any order of ``position`` is touched (the ledger
        would refuse its exit; its working orders are left as they are, too)."""
        if self._ledger.is_protected(position.symbol):
            raise ProtectedSymbol(str(position.symbol), "exit")

    def _leave_alone(self, position: Position, exc: ProtectedSymbol) -> None:
        pid = position.position_id or 0
        if pid not in self._refused:
            self._refused[pid] = (str(position.symbol), str(exc))
            self._ledger.append_event(
                "UNPROTECTED",
                f"{exc}: openbell leaves position {pid} alone from now on; release it "
                "('openbell positions release') or unprotect the symbol",
                symbol=position.symbol,
                position_id=pid,
            )

    def left_alone(self) -> dict[str, str]:
        """Symbols whose positions the ledger refused to exit (protected), with the reason."""
        return dict(self._refused.values())

    def _protect(self, position: Position) -> None:
        pid = position.position_id or 0
        if not self._resting:
            if position.target_price is None:
                self._set_exit_prices(position)
            return
        orders = self._ledger.orders(pid)
        live_exits = [o for o in orders if o.role.is_exit and not o.status.is_terminal]
        if any(o.role is OrderRole.STOP and o.filled_quantity > 0 for o in live_exits):
            return  # a triggered stop is selling: let it finish (see _after_exit_fill)
        if live_exits:
            if not _pair_covers(live_exits, position.held_quantity):
                # More shares arrived, or one side of the pair is gone: cancel what is left;
                # its cancellation brings us back here to place a whole new pair.
                self._cancel(live_exits)
            return
        attempt = sum(1 for o in orders if o.role is OrderRole.TARGET)
        if attempt and self._mourning(orders):
            return
        unfilled = sum(1 for o in orders if o.role is OrderRole.TARGET and not o.filled_quantity)
        if unfilled >= MAX_PROTECT_ATTEMPTS:
            self._unprotected(
                position,
                f"gave up after {unfilled} target/stop pairs ended without filling; "
                "only the flatten applies: a person should look",
            )
            return
        priced = self._set_exit_prices(position)
        if priced is not None:
            pair = exit_orders(priced, attempt)
            for intent in (pair.target, pair.stop):
                self.send(pid, intent)

    def _mourning(self, orders: Sequence[OrderRecord]) -> bool:
        """Whether the last exit order ended less than ``replace_after`` ago: its fill may
        still come (after its cancel), so no new exit is sent yet. Without a clock (the
        backtest's in-process broker, which never reorders), never."""
        ended = [o.updated_at for o in orders if o.role.is_exit and o.status.is_terminal]
        if self._clock is None or not ended:
            return False
        return self._clock.now() - max(ended) < self._replace_after

    def _set_exit_prices(self, position: Position) -> Position | None:
        entry, target_pct, stop_pct = (
            position.entry_price,
            position.target_pct,
            position.stop_loss_pct,
        )
        if entry is None or target_pct is None or stop_pct is None:
            self._unprotected(
                position, "no target or stop percentage recorded: only the flatten applies"
            )
            return None
        prices = exit_prices(entry, target_pct, stop_pct)
        return self._ledger.set_exit_prices(position.position_id or 0, prices.target, prices.stop)

    def _unprotected(self, position: Position, why: str) -> None:
        pid = position.position_id or 0
        if pid not in self._warned:
            self._warned.add(pid)
            self._ledger.append_event("UNPROTECTED", why, symbol=position.symbol, position_id=pid)

    def send(self, position_id: int, intent: OrderIntent) -> None:
        """Record an exit order, then send it; one the broker could not send is marked
        REJECTED, and its rejection brings a replacement through :meth:`protect`."""
        record_then_send(self._ledger, self._broker, position_id, intent, EXIT_OWNER)

    def flatten(self, only: Callable[[Position], bool] | None = None) -> bool:
        """One step of the end-of-day flatten (of the positions ``only`` accepts, default
        all); True once none of them holds anything.

        Working targets and stops are cancelled first; the market sell goes out only once
        they are gone, and ``replace_after`` later (a fill may follow its cancel), so the two
        can never both fill.
        """
        done = True
        for position in self._ledger.active_positions():
            if only is not None and not only(position):
                continue
            if position.held_quantity <= 0 and position.state in _NOT_ENTERED:
                continue  # nothing held yet: its entry belongs to the day-trader
            if (position.position_id or 0) in self._refused:
                continue  # protected: reported, and left to a person
            try:
                self._refuse_protected(position)
                self._flatten_one(position)
                done = False
            except ProtectedSymbol as exc:
                self._leave_alone(position, exc)
        return done

    def _flatten_one(self, position: Position) -> None:
        pid = position.position_id or 0
        self._flattening.add(pid)
        live = [o for o in self._ledger.orders(pid, live_only=True) if o.role.is_exit]
        others = [o for o in live if o.role is not OrderRole.FLATTEN]
        if others:
            self._cancel(others)
        elif not live and not self._mourning(self._ledger.orders(pid)):
            self._send_flatten(position)

    def _send_flatten(self, position: Position) -> None:
        pid = position.position_id or 0
        if position.state is PositionState.OPEN:
            position = self._ledger.start_exit(pid, ExitReason.FLATTEN)
        attempt = sum(1 for o in self._ledger.orders(pid) if o.role is OrderRole.FLATTEN)
        self.send(pid, flatten_order(position, attempt))

    def _cancel(self, orders: Iterable[OrderRecord]) -> None:
        for order in orders:
            ref = str(order.order_ref)
            if ref not in self._cancel_requested:
                self._broker.cancel(order.order_ref)
                self._cancel_requested.add(ref)  # only once the broker took it


def _pair_covers(live_exits: Sequence[OrderRecord], held: int) -> bool:
    """True if a working target and a working stop each cover every held share."""

    def covers(role: OrderRole) -> bool:
        return any(
            o.role is role and o.quantity.value - o.filled_quantity >= held for o in live_exits
        )

    return covers(OrderRole.TARGET) and covers(OrderRole.STOP)
