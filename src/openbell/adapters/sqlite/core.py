"""The ledger's core: one connection, short write transactions, the event writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from openbell.adapters.sqlite import rows
from openbell.adapters.sqlite.schema import connect, connect_read_only
from openbell.domain.errors import (
    Conflict,
    InvariantBroken,
    LedgerBusy,
    LedgerUnavailable,
    NotFound,
    OpenbellError,
    ProtectedSymbol,
    RefusedInput,
)
from openbell.domain.positions import Position
from openbell.domain.records import EventDraft, OrderRecord
from openbell.domain.values import OrderRef, Symbol
from openbell.ports import Clock

T = TypeVar("T")

LIVE_STATES = "('PLANNED', 'ENTRY_SUBMITTED', 'OPEN', 'EXITING')"
HOLDING_STATES = "('OPEN', 'EXITING')"
LIVE_ORDER = "status IN ('PENDING', 'SUBMITTED', 'PARTIALLY_FILLED')"
INSERT_EVENT = (
    "INSERT INTO events (at, process, kind, symbol, position_id, message, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _translated(exc: sqlite3.Error) -> OpenbellError:
    """Name a SQLite failure by what the caller should do about it."""
    if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
        return LedgerBusy(f"ledger stayed locked by another process: {exc}")
    if isinstance(exc, sqlite3.IntegrityError):
        return InvariantBroken(f"ledger refused a write that breaks its constraints: {exc}")
    return LedgerUnavailable(f"ledger write failed: {exc}")


class LedgerCore:
    """Connection, transactions, the event log writer and the protection guard."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Clock,
        *,
        process: str,
        protected_symbols: frozenset[Symbol] = frozenset(),
        code_version: str = "unknown",
    ) -> None:
        conn.row_factory = sqlite3.Row
        self._conn = conn
        self._in_batch = False
        self._clock = clock
        self._process = process
        self._protected = protected_symbols
        self._code_version = code_version

    @classmethod
    def open(
        cls,
        path: Path,
        clock: Clock,
        *,
        process: str,
        protected_symbols: frozenset[Symbol] = frozenset(),
        busy_timeout_ms: int = 5000,
        code_version: str = "unknown",
        durable: bool = True,
    ) -> Self:
        """Open (creating and migrating if needed) the ledger file at ``path``."""
        conn = connect(path, busy_timeout_ms, durable=durable)
        return cls(
            conn,
            clock,
            process=process,
            protected_symbols=protected_symbols,
            code_version=code_version,
        )

    @classmethod
    def open_read_only(
        cls,
        path: Path,
        clock: Clock,
        *,
        process: str,
        protected_symbols: frozenset[Symbol] = frozenset(),
        busy_timeout_ms: int = 5000,
    ) -> Self:
        """Open the existing ledger at ``path`` to read; every write fails (LedgerUnavailable)."""
        conn = connect_read_only(path, busy_timeout_ms)
        return cls(conn, clock, process=process, protected_symbols=protected_symbols)

    def close(self) -> None:
        self._conn.close()

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run many commands in one transaction, each still all-or-nothing on its own.

        For a process that owns its ledger (a backtest's scratch file): the write lock is held
        for the whole batch, so never use it where other processes share the file. An error
        escaping the batch rolls all of it back; a refused command inside it undoes only
        itself (and logs its REFUSED event, as outside a batch).
        """
        if self._in_batch:
            yield
            return
        with self._write():
            self._in_batch = True
            try:
                yield
            finally:
                self._in_batch = False

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (a savepoint inside a batch); SQLite errors
        leave as openbell errors."""
        if self._in_batch:
            with self._savepoint():
                yield self._conn
            return
        self._begin_immediate()
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _translated(exc) from exc
            raise

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._conn.execute("SAVEPOINT command")
        try:
            yield
            self._conn.execute("RELEASE command")
        except BaseException as exc:
            self._conn.execute("ROLLBACK TO command")
            self._conn.execute("RELEASE command")
            if isinstance(exc, sqlite3.Error):
                raise _translated(exc) from exc
            raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read several queries from one snapshot of the ledger (a page that adds up
        positions must not see one close between two of its reads). Reads only."""
        if self._conn.in_transaction:
            yield
            return
        try:
            self._conn.execute("BEGIN")
        except sqlite3.OperationalError as exc:
            raise _translated(exc) from exc
        try:
            yield
        finally:
            self._end_read()

    def _end_read(self) -> None:
        if self._conn.in_transaction:  # a command inside the snapshot may have ended it
            self._conn.execute("COMMIT")

    def _begin_immediate(self) -> None:
        """Take the write lock; SQLite's busy handler waits up to the busy timeout."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _translated(exc) from exc

    def _command(self, action: str, symbol: Symbol | None, body: Callable[[], T]) -> T:
        """Run ``body`` in one transaction; log a refusal in the event log, then re-raise."""
        try:
            with self._write():
                return body()
        except RefusedInput as exc:
            with self._write():
                self._event(
                    "REFUSED",
                    str(exc),
                    symbol=symbol,
                    data={"action": action, "error": type(exc).__name__},
                )
            raise

    def _now_text(self) -> str:
        return self._clock.now().isoformat()

    def _event(
        self,
        kind: str,
        message: str,
        *,
        symbol: Symbol | None = None,
        position_id: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        draft = EventDraft(kind, message, symbol, position_id, data or {})
        cursor = self._conn.execute(INSERT_EVENT, self._event_row(draft, self._now_text()))
        return int(cursor.lastrowid or 0)

    def _event_row(self, draft: EventDraft, at: str) -> tuple[object, ...]:
        """The values of :data:`INSERT_EVENT` for ``draft``, written by this process."""
        return (
            at,
            self._process,
            draft.kind,
            rows.text(draft.symbol),
            draft.position_id,
            draft.message,
            rows.to_json(draft.data),
        )

    def is_protected(self, symbol: Symbol) -> bool:
        """True if ``symbol`` is protected: every command that would trade it is refused."""
        return symbol in self._protected

    def _guard(self, symbol: Symbol, action: str) -> None:
        if symbol in self._protected:
            raise ProtectedSymbol(str(symbol), action)

    # --- positions: internal reads and writes ----------------------------------------------

    def _load(self, position_id: int) -> Position:
        row = self._conn.execute(
            "SELECT * FROM positions WHERE position_id = ?", (position_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"position {position_id}: expected a recorded position, found none")
        return rows.position_from(row)

    def _live(self, symbol: Symbol) -> Position | None:
        row = self._conn.execute(
            f"SELECT * FROM positions WHERE symbol = ? AND state IN {LIVE_STATES}", (str(symbol),)
        ).fetchone()
        return None if row is None else rows.position_from(row)

    def _store(self, position: Position) -> Position:
        columns = rows.position_columns(position)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._conn.execute(
            f"UPDATE positions SET {assignments}, updated_at = ? WHERE position_id = ?",
            (*columns.values(), self._now_text(), position.position_id),
        )
        return position

    def _insert(self, position: Position) -> Position:
        existing = self._live(position.symbol)
        if existing is not None:
            raise Conflict(
                f"{position.symbol}: expected no live position, found position "
                f"{existing.position_id} in state {existing.state}"
            )
        now = self._now_text()
        cursor = self._conn.execute(
            "INSERT INTO positions (trading_day, symbol, role, state, planned_quantity, "
            "confidence, target_pct, stop_loss_pct, metadata, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                position.trading_day.isoformat(),
                str(position.symbol),
                str(position.role),
                str(position.state),
                position.planned_quantity.value,
                rows.text(position.confidence),
                rows.text(position.target_pct),
                rows.text(position.stop_loss_pct),
                rows.to_json(position.metadata),
                now,
                now,
            ),
        )
        return self._load(int(cursor.lastrowid or 0))

    def _order(self, order_ref: OrderRef) -> OrderRecord:
        row = self._conn.execute(
            "SELECT * FROM orders WHERE order_ref = ?", (str(order_ref),)
        ).fetchone()
        if row is None:
            raise NotFound(f"order {order_ref}: expected a recorded order, found none")
        return rows.order_from(row)

    def _live_orders(self, position_id: int | None) -> list[OrderRecord]:
        return [
            rows.order_from(row)
            for row in self._conn.execute(
                f"SELECT * FROM orders WHERE position_id = ? AND {LIVE_ORDER} ORDER BY created_at",
                (position_id,),
            )
        ]
