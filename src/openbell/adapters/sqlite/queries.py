"""The ledger's position, order and fill queries. Each is one consistent read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from openbell.adapters.sqlite import rows
from openbell.adapters.sqlite.core import HOLDING_STATES, LIVE_ORDER, LedgerCore
from openbell.domain.positions import Position
from openbell.domain.records import FillRecord, OrderRecord
from openbell.domain.values import OrderRef, Symbol


class LedgerQueries(LedgerCore):
    def position(self, position_id: int) -> Position:
        return self._load(position_id)

    def is_active(self, symbol: Symbol) -> bool:
        """True while the ledger holds shares of ``symbol`` (state OPEN or EXITING)."""
        row = self._conn.execute(
            f"SELECT 1 FROM positions WHERE symbol = ? AND state IN {HOLDING_STATES}",
            (str(symbol),),
        ).fetchone()
        return row is not None

    def was_closed_on(self, symbol: Symbol, trading_day: date) -> bool:
        """True if a position in ``symbol`` closed on ``trading_day`` (no re-entry that day)."""
        row = self._conn.execute(
            "SELECT 1 FROM positions WHERE symbol = ? AND state = 'CLOSED' AND closed_day = ?",
            (str(symbol), trading_day.isoformat()),
        ).fetchone()
        return row is not None

    def active_positions(self) -> Sequence[Position]:
        """Positions holding shares, oldest first."""
        return self._positions(f"state IN {HOLDING_STATES}", ())

    def closed_positions(self, trading_day: date) -> Sequence[Position]:
        """Positions closed on ``trading_day``, in the order they closed."""
        return self._positions(
            "state = 'CLOSED' AND closed_day = ?", (trading_day.isoformat(),), order="closed_at"
        )

    def positions_of_day(self, trading_day: date) -> Sequence[Position]:
        """Every position planned or adopted for ``trading_day``, whatever its state."""
        return self._positions("trading_day = ?", (trading_day.isoformat(),))

    def _positions(
        self, where: str, args: tuple[str, ...], order: str = "position_id"
    ) -> list[Position]:
        cursor = self._conn.execute(
            f"SELECT * FROM positions WHERE {where} ORDER BY {order}, position_id", args
        )
        return [rows.position_from(row) for row in cursor]

    def orders(
        self, position_id: int | None = None, *, live_only: bool = False
    ) -> Sequence[OrderRecord]:
        clauses = ["1 = 1"]
        args: list[object] = []
        if position_id is not None:
            clauses.append("position_id = ?")
            args.append(position_id)
        if live_only:
            clauses.append(LIVE_ORDER)
        cursor = self._conn.execute(
            f"SELECT * FROM orders WHERE {' AND '.join(clauses)} ORDER BY created_at, order_ref",
            args,
        )
        return [rows.order_from(row) for row in cursor]

    def order(self, order_ref: OrderRef) -> OrderRecord:
        return self._order(order_ref)

    def fills(self, position_id: int | None = None) -> Sequence[FillRecord]:
        if position_id is None:
            cursor = self._conn.execute("SELECT * FROM fills ORDER BY executed_at, execution_id")
        else:
            cursor = self._conn.execute(
                "SELECT * FROM fills WHERE position_id = ? ORDER BY executed_at, execution_id",
                (position_id,),
            )
        return [rows.fill_from(row) for row in cursor]
