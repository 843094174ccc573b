"""The SQLite position ledger (ARCHITECTURE.md §6).

Every command is one short ``BEGIN IMMEDIATE`` transaction, so concurrent processes see
each other's writes in order and no read-modify-write is lost. A refused command changes
nothing and leaves a ``REFUSED`` event with its reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import date

from openbell.adapters.sqlite import rows
from openbell.adapters.sqlite.fills import LedgerFills
from openbell.adapters.sqlite.journal import LedgerJournal
from openbell.adapters.sqlite.queries import LedgerQueries
from openbell.domain.enums import ExitReason, OrderRole, OrderStatus, PositionRole, PositionState
from openbell.domain.errors import Conflict, InvalidValue, NotFound
from openbell.domain.orders import OrderIntent, next_order_status
from openbell.domain.positions import Position
from openbell.domain.records import OrderRecord
from openbell.domain.values import OrderRef, Price, Quantity, Symbol


class SqliteLedger(LedgerFills, LedgerQueries, LedgerJournal):
    """The ledger over one SQLite connection. Build it with :meth:`open`."""

    # --- positions: commands -----------------------------------------------------------------

    def plan_position(self, position: Position) -> Position:
        """Record a planned entry (state PLANNED). At most one live position per symbol, and
        none in a symbol whose position closed earlier the same trading day (no re-entry)."""
        if position.state is not PositionState.PLANNED or position.position_id is not None:
            raise InvalidValue("planned position", "a new PLANNED position", position.state)

        def body() -> Position:
            self._guard(position.symbol, "open")
            if self.was_closed_on(position.symbol, position.trading_day):
                raise Conflict(
                    f"{position.symbol}: expected no position closed on {position.trading_day} "
                    "before a new entry, found one (no re-entry the same day)"
                )
            stored = self._insert(position)
            self._event(
                "PLANNED",
                f"planned {position.role} entry of {position.planned_quantity} shares",
                symbol=position.symbol,
                position_id=stored.position_id,
                data={
                    "confidence": rows.text(position.confidence),
                    "target_pct": rows.text(position.target_pct),
                },
            )
            return stored

        return self._command("plan a position", position.symbol, body)

    def record_order(self, position_id: int, intent: OrderIntent, owner: str) -> OrderRecord:
        """Record an order before it is sent (status PENDING), so a crash cannot lose it.

        An entry moves its PLANNED position to ENTRY_SUBMITTED. An exit may not ask for more
        shares than the position holds.
        """

        def body() -> OrderRecord:
            position = self._load(position_id)
            self._check_order_fits(position, intent)
            if intent.role is OrderRole.ENTRY:
                self._store(position.submit_entry())
            recorded = self._insert_order(position_id, intent, owner)
            self._event(
                "ORDER_RECORDED",
                f"{intent.role} {intent.side} {intent.quantity} {intent.order_type}/"
                f"{intent.time_in_force} by {owner}",
                symbol=intent.symbol,
                position_id=position_id,
                data={"order_ref": str(intent.order_ref)},
            )
            return recorded

        return self._command(f"record order {intent.order_ref}", intent.symbol, body)

    def _check_order_fits(self, position: Position, intent: OrderIntent) -> None:
        action = "open" if intent.role is OrderRole.ENTRY else "exit"
        self._guard(intent.symbol, action)
        if intent.symbol != position.symbol:
            raise InvalidValue(
                "order symbol", f"{position.symbol} (the position's)", str(intent.symbol)
            )
        if intent.role is OrderRole.ENTRY:
            return
        if not position.state.holds_shares:
            raise Conflict(
                f"{position.symbol}: an exit order needs an OPEN or EXITING position, found "
                f"position {position.position_id} {position.state}"
            )
        covered = self._exit_shares_covered(position.position_id or 0, intent)
        if covered > position.held_quantity:
            raise Conflict(
                f"{position.symbol}: exit orders for {covered} shares (working ones included) "
                f"expected at most the {position.held_quantity} the ledger holds for position "
                f"{position.position_id}; cancel a working exit or join its OCA group"
            )

    def _exit_shares_covered(self, position_id: int, intent: OrderIntent) -> int:
        """Shares the working exits plus ``intent`` could sell if every one of them filled.

        Orders in one OCA group cancel each other, so a group counts once, at its largest
        remaining quantity; an order outside any group counts in full.
        """
        groups: dict[str, int] = {}
        for order in self._live_orders(position_id):
            if order.role.is_exit:
                key = order.oca_group or f"solo:{order.order_ref}"
                remaining = order.quantity.value - order.filled_quantity
                groups[key] = max(groups.get(key, 0), remaining)
        key = intent.oca_group or "solo:new"
        groups[key] = max(groups.get(key, 0), intent.quantity.value)
        return sum(groups.values())

    def _insert_order(self, position_id: int, intent: OrderIntent, owner: str) -> OrderRecord:
        at = self._clock.now()
        now = at.isoformat()
        try:
            self._conn.execute(
                "INSERT INTO orders (order_ref, position_id, symbol, role, side, quantity, "
                "order_type, time_in_force, limit_price, stop_price, oca_group, status, owner, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(intent.order_ref),
                    position_id,
                    str(intent.symbol),
                    str(intent.role),
                    str(intent.side),
                    intent.quantity.value,
                    str(intent.order_type),
                    str(intent.time_in_force),
                    rows.text(intent.limit_price),
                    rows.text(intent.stop_price),
                    intent.oca_group,
                    str(OrderStatus.PENDING),
                    owner,
                    now,
                    now,
                ),
            )
        except sqlite3.IntegrityError:
            raise Conflict(
                f"order_ref {intent.order_ref}: expected a new reference, found it already recorded"
            ) from None
        return OrderRecord(
            intent.order_ref,
            position_id,
            intent.symbol,
            intent.role,
            intent.side,
            intent.quantity,
            0,
            intent.order_type,
            intent.time_in_force,
            OrderStatus.PENDING,
            owner,
            at,
            at,
            intent.limit_price,
            intent.stop_price,
            intent.oca_group,
        )

    def update_order(
        self,
        order_ref: OrderRef,
        status: OrderStatus,
        *,
        broker_order_id: int | None = None,
        perm_id: int | None = None,
        reason: str = "",
    ) -> OrderRecord:
        """Apply the broker's report of an order; an entry that ends unfilled abandons its
        position."""

        def body() -> OrderRecord:
            order = self._order(order_ref)
            updated = replace(
                order,
                status=next_order_status(order.status, status),
                status_reason=reason or order.status_reason,
                broker_order_id=order.broker_order_id
                if broker_order_id is None
                else broker_order_id,
                perm_id=order.perm_id if perm_id is None else perm_id,
                updated_at=self._clock.now(),
            )
            self._conn.execute(
                "UPDATE orders SET status = ?, status_reason = ?, broker_order_id = ?, "
                "perm_id = ?, updated_at = ? WHERE order_ref = ?",
                (
                    str(updated.status),
                    updated.status_reason,
                    updated.broker_order_id,
                    updated.perm_id,
                    updated.updated_at.isoformat(),
                    str(order_ref),
                ),
            )
            if updated.status is not order.status:
                self._event(
                    "ORDER_STATUS",
                    f"{order_ref} {order.status} -> {updated.status} {reason}".strip(),
                    symbol=order.symbol,
                    position_id=order.position_id,
                )
            self._abandon_if_entry_died(order, updated.status, reason)
            return updated

        return self._command(f"update order {order_ref}", None, body)

    def _abandon_if_entry_died(self, order: OrderRecord, status: OrderStatus, reason: str) -> None:
        if order.role is not OrderRole.ENTRY or status not in (
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
        ):
            return
        position = self._load(order.position_id)
        if position.state is PositionState.ENTRY_SUBMITTED and position.entry_quantity == 0:
            self._store(position.entry_failed())
            self._event(
                "ABANDONED",
                f"entry {order.order_ref} ended {status}: {reason}".strip(),
                symbol=position.symbol,
                position_id=position.position_id,
            )

    def set_exit_prices(self, position_id: int, target: Price, stop: Price) -> Position:
        def body() -> Position:
            position = self._load(position_id)
            self._guard(position.symbol, "exit")
            self._event(
                "EXIT_PRICES",
                f"target {target}, stop {stop}",
                symbol=position.symbol,
                position_id=position_id,
            )
            return self._store(position.with_exit_prices(target, stop))

        return self._command("set exit prices", None, body)

    def start_exit(self, position_id: int, reason: ExitReason) -> Position:
        return self._transition(
            position_id, "start exit", "EXITING", str(reason), lambda p: p.start_exit(reason)
        )

    def abort_exit(self, position_id: int, reason: str) -> Position:
        return self._transition(
            position_id, "abort exit", "EXIT_ABORTED", reason, lambda p: p.exit_aborted()
        )

    def abandon(self, position_id: int, reason: str) -> Position:
        return self._transition(position_id, "abandon", "ABANDONED", reason, lambda p: p.abandon())

    def _transition(
        self,
        position_id: int,
        action: str,
        kind: str,
        reason: str,
        step: Callable[[Position], Position],
    ) -> Position:
        def body() -> Position:
            position = self._load(position_id)
            if kind != "ABANDONED":
                self._guard(position.symbol, "exit")
            updated = self._store(step(position))
            self._event(kind, reason, symbol=position.symbol, position_id=position_id)
            return updated

        return self._command(f"{action} position {position_id}", None, body)

    def adopt(
        self, symbol: Symbol, quantity: Quantity, price: Price, reason: str, trading_day: date
    ) -> Position:
        """Bring an outside holding under management, explicitly and with a reason."""

        def body() -> Position:
            self._guard(symbol, "adopt")
            if not reason.strip():
                raise InvalidValue("adopt reason", "a non-empty reason", reason)
            planned = Position(trading_day, symbol, PositionRole.ADOPTED, quantity)
            stored = self._insert(planned)
            adopted = self._store(stored.adopt(price, self._clock.now()))
            self._event(
                "ADOPTED",
                f"adopted {quantity} @ {price}: {reason}",
                symbol=symbol,
                position_id=stored.position_id,
            )
            return adopted

        return self._command(f"adopt {symbol}", symbol, body)

    def release(self, symbol: Symbol, reason: str) -> Position:
        """Give a held position back to the user; refused while any of its orders is live."""

        def body() -> Position:
            position = self._live(symbol)
            if position is None:
                raise NotFound(f"{symbol}: expected a live position to release, found none")
            live = self._live_orders(position.position_id)
            if live:
                refs = ", ".join(str(o.order_ref) for o in live)
                raise Conflict(
                    f"{symbol}: expected no working orders, found {refs}; cancel them first"
                )
            released = self._store(position.release())
            self._event(
                "RELEASED",
                f"released {position.held_quantity} shares: {reason}",
                symbol=symbol,
                position_id=position.position_id,
            )
            return released

        return self._command(f"release {symbol}", symbol, body)
