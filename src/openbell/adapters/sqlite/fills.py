"""The ledger's fills: entry and exit fills turned into position changes, once each."""

from __future__ import annotations

from datetime import date

from openbell.adapters.sqlite import rows
from openbell.adapters.sqlite.core import LedgerCore
from openbell.domain.enums import ExitReason, OrderRole, OrderStatus, PositionState
from openbell.domain.errors import InvalidValue, NotFound
from openbell.domain.orders import Fill, next_order_status
from openbell.domain.positions import Position
from openbell.domain.records import OrderRecord
from openbell.domain.values import Money

_ROLE_REASON = {
    OrderRole.TARGET: ExitReason.TARGET,
    OrderRole.STOP: ExitReason.STOP,
    OrderRole.FLATTEN: ExitReason.FLATTEN,
}


class LedgerFills(LedgerCore):
    def record_entry_fill(self, fill: Fill) -> Position:
        """Open (or add to) the position of the entry order ``fill`` belongs to.

        Recording the same ``execution_id`` twice is a no-op.
        """
        return self._command(
            f"record entry fill {fill.execution_id}",
            fill.symbol,
            lambda: self._apply_fill(fill, OrderRole.ENTRY, None),
        )

    def record_exit_fill(self, fill: Fill, trading_day: date) -> Position:
        """Account for an exit fill; the position closes when it holds no more shares.

        A closed position counts as closed on ``trading_day``. Recording the same
        ``execution_id`` twice is a no-op; selling more than the position holds is refused.
        """
        return self._command(
            f"record exit fill {fill.execution_id}",
            fill.symbol,
            lambda: self._apply_fill(fill, None, trading_day),
        )

    def _apply_fill(self, fill: Fill, role: OrderRole | None, day: date | None) -> Position:
        order = self._order(fill.order_ref)
        self._check_fill_matches(order, fill, entry=role is OrderRole.ENTRY)
        known = self._conn.execute(
            "SELECT position_id FROM fills WHERE execution_id = ?", (fill.execution_id,)
        ).fetchone()
        if known is not None:
            return self._load(known["position_id"])  # the same execution again: a no-op
        self._refuse_doubtful(order, fill)
        position = self._load(order.position_id)
        if order.role is OrderRole.ENTRY:
            position = self._entry_fill_target(position, fill)
            updated = position.record_entry_fill(fill.quantity, fill.price, fill.executed_at)
        else:
            self._guard(fill.symbol, "exit")
            reason = position.exit_reason or _ROLE_REASON[order.role]
            assert day is not None
            updated = position.record_exit_fill(
                fill.quantity, fill.price, fill.executed_at, reason, day
            )
        if fill.commission is not None:
            updated = updated.add_commission(fill.commission)
        self._insert_fill(fill, updated.position_id or 0)
        self._store(updated)
        self._count_fill(order, fill.quantity.value)
        self._event(
            f"{order.role}_FILL",
            f"{fill.side} {fill.quantity} @ {fill.price} ({fill.execution_id}); now holds "
            f"{updated.held_quantity}, state {updated.state}",
            symbol=fill.symbol,
            position_id=updated.position_id,
            data={"execution_id": fill.execution_id, "order_ref": str(fill.order_ref)},
        )
        return updated

    def _entry_fill_target(self, position: Position, fill: Fill) -> Position:
        """The position a late entry fill must be booked on, so real shares are never lost.

        A fill can arrive after IB acknowledged the cancel of its entry, when the position was
        already abandoned, or closed by selling the shares filled before it, and the symbol
        perhaps planned again. If the symbol is free, the old position is revived. A newer
        plan that sent nothing yet is abandoned in its favour. A newer position that already
        has an entry working or shares held takes the shares, so one live position manages
        everything openbell bought.
        """
        if position.state not in (PositionState.ABANDONED, PositionState.CLOSED):
            return position
        newer = self._live(position.symbol)
        if newer is None:
            self._revived(position, fill)
            return position
        if newer.state is PositionState.PLANNED:
            self._store(newer.abandon())
            self._event(
                "ABANDONED",
                f"late fill {fill.execution_id} revives position {position.position_id}",
                symbol=position.symbol,
                position_id=newer.position_id,
            )
            self._revived(position, fill)
            return position
        self._event(
            "LATE_FILL_MOVED",
            f"late fill {fill.execution_id} of abandoned position {position.position_id} "
            f"booked on live position {newer.position_id}",
            symbol=position.symbol,
            position_id=newer.position_id,
            data={"execution_id": fill.execution_id, "from_position": position.position_id},
        )
        return newer

    def _refuse_doubtful(self, order: OrderRecord, fill: Fill) -> None:
        """Refuse a fill that cannot be a new execution of ``order``.

        IB marks a correction by changing only the digits after an execution id's last period
        (``….01`` corrected by ``….02``), without saying whether it replaces the first report
        or adds to it; and no order fills beyond its quantity. Booking either would count
        shares twice, and an exit sized from that count would sell shares openbell does not
        hold. The refusal goes to the event log with the fill's facts, for a person to check.
        """
        facts = f"{fill.side} {fill.quantity} {fill.symbol} @ {fill.price} for {order.order_ref}"
        stem, dot, version = fill.execution_id.rpartition(".")
        if dot and stem and version.isdigit():
            cursor = self._conn.execute(
                "SELECT execution_id FROM fills WHERE order_ref = ?", (str(order.order_ref),)
            )
            for (booked,) in cursor:
                if booked.rpartition(".")[0] == stem:
                    raise InvalidValue(
                        f"fill {fill.execution_id} ({facts})",
                        "a new execution",
                        f"a correction of the booked execution {booked}: check the position "
                        "at IB, openbell books neither change",
                    )
        left = order.quantity.value - order.filled_quantity
        if fill.quantity.value > left:
            raise InvalidValue(
                f"fill {fill.execution_id} ({facts})",
                f"at most the {left} shares the order has left",
                f"{fill.quantity.value} shares",
            )

    def _revived(self, position: Position, fill: Fill) -> None:
        self._event(
            "LATE_FILL_REVIVES",
            f"late entry fill {fill.execution_id} ({fill.quantity} shares) reopens "
            f"{str(position.state).lower()} position {position.position_id}: its shares are "
            "managed like any others",
            symbol=position.symbol,
            position_id=position.position_id,
            data={"execution_id": fill.execution_id, "was": str(position.state)},
        )

    def _check_fill_matches(self, order: OrderRecord, fill: Fill, *, entry: bool) -> None:
        if (order.role is OrderRole.ENTRY) != entry:
            kind = "an entry" if entry else "an exit"
            raise InvalidValue(f"fill {fill.execution_id} order", f"{kind} order", str(order.role))
        if order.symbol != fill.symbol or order.side is not fill.side:
            raise InvalidValue(
                f"fill {fill.execution_id}",
                f"{order.side} {order.symbol} like order {order.order_ref}",
                f"{fill.side} {fill.symbol}",
            )

    def _insert_fill(self, fill: Fill, position_id: int) -> None:
        self._conn.execute(
            "INSERT INTO fills (execution_id, order_ref, position_id, symbol, side, "
            "quantity, price, commission, executed_at, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fill.execution_id,
                str(fill.order_ref),
                position_id,
                str(fill.symbol),
                str(fill.side),
                fill.quantity.value,
                str(fill.price.value),
                rows.text(fill.commission),
                fill.executed_at.isoformat(),
                self._now_text(),
            ),
        )

    def _count_fill(self, order: OrderRecord, quantity: int) -> None:
        filled = order.filled_quantity + quantity
        complete = filled >= order.quantity.value
        reported = OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED
        status = order.status if order.status is OrderStatus.FILLED else reported
        self._conn.execute(
            "UPDATE orders SET filled_quantity = ?, status = ?, updated_at = ? WHERE order_ref = ?",
            (
                filled,
                str(next_order_status(order.status, status)),
                self._now_text(),
                str(order.order_ref),
            ),
        )

    def record_commission(self, execution_id: str, commission: Money) -> None:
        """Attach a commission reported after its fill. Repeating it is a no-op."""

        def body() -> None:
            row = self._conn.execute(
                "SELECT position_id, commission FROM fills WHERE execution_id = ?", (execution_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"fill {execution_id}: expected a recorded fill, found none")
            if row["commission"] is not None:
                return
            self._conn.execute(
                "UPDATE fills SET commission = ? WHERE execution_id = ?",
                (str(commission.amount), execution_id),
            )
            self._store(self._load(row["position_id"]).add_commission(commission))

        self._command(f"record commission for {execution_id}", None, body)
