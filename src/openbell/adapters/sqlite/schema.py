"""Opening the ledger file: pragmas, integrity checks and migrations on ``user_version``.

Migrations run in one ``BEGIN IMMEDIATE`` transaction that re-reads ``user_version``, so
several processes opening a new file at once migrate it exactly once.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from openbell.domain.errors import LedgerBusy, LedgerCorrupt, LedgerSchemaTooNew, LedgerUnavailable

APPLICATION_ID = 0x0B5E11  # marks the file as an openbell ledger ("OBell")

Step = str | Callable[[sqlite3.Connection], None]
"""One migration step: an SQL statement, or a function for a change that depends on the file."""

_LIVE = "('PLANNED', 'ENTRY_SUBMITTED', 'OPEN', 'EXITING')"

_V1: list[Step] = [
    """
    CREATE TABLE positions (
        position_id      INTEGER PRIMARY KEY,
        trading_day      TEXT NOT NULL,
        symbol           TEXT NOT NULL,
        role             TEXT NOT NULL CHECK (role IN ('MASTER', 'RESCAN', 'ADOPTED')),
        state            TEXT NOT NULL CHECK (state IN ('PLANNED', 'ENTRY_SUBMITTED', 'OPEN',
                                  'EXITING', 'CLOSED', 'ABANDONED', 'RELEASED')),
        planned_quantity INTEGER NOT NULL CHECK (planned_quantity > 0),
        entry_quantity   INTEGER NOT NULL DEFAULT 0 CHECK (entry_quantity >= 0),
        entry_cost       TEXT NOT NULL DEFAULT '0',
        exit_quantity    INTEGER NOT NULL DEFAULT 0
                         CHECK (exit_quantity >= 0 AND exit_quantity <= entry_quantity),
        exit_proceeds    TEXT NOT NULL DEFAULT '0',
        commissions      TEXT NOT NULL DEFAULT '0',
        realized_pnl     TEXT NOT NULL DEFAULT '0',
        confidence       TEXT,
        target_pct       TEXT,
        stop_loss_pct    TEXT,
        target_price     TEXT,
        stop_price       TEXT,
        opened_at        TEXT,
        closed_at        TEXT,
        closed_day       TEXT,
        exit_reason      TEXT,
        metadata         TEXT NOT NULL DEFAULT '{}',
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    )
    """,
    # At most one live position per symbol, across every process.
    "CREATE UNIQUE INDEX positions_one_live_per_symbol ON positions(symbol) "
    f"WHERE state IN {_LIVE}",
    "CREATE INDEX positions_by_trading_day ON positions(trading_day)",
    "CREATE INDEX positions_by_closed_day ON positions(closed_day, symbol)",
    """
    CREATE TABLE orders (
        order_ref        TEXT PRIMARY KEY,
        position_id      INTEGER NOT NULL REFERENCES positions(position_id),
        symbol           TEXT NOT NULL,
        role             TEXT NOT NULL CHECK (role IN ('ENTRY', 'TARGET', 'STOP', 'FLATTEN')),
        side             TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        quantity         INTEGER NOT NULL CHECK (quantity > 0),
        filled_quantity  INTEGER NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0),
        order_type       TEXT NOT NULL,
        time_in_force    TEXT NOT NULL,
        limit_price      TEXT,
        stop_price       TEXT,
        oca_group        TEXT,
        status           TEXT NOT NULL,
        status_reason    TEXT NOT NULL DEFAULT '',
        owner            TEXT NOT NULL,
        broker_order_id  INTEGER,
        perm_id          INTEGER,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    )
    """,
    "CREATE INDEX orders_by_position ON orders(position_id)",
    """
    CREATE TABLE fills (
        execution_id     TEXT PRIMARY KEY,
        order_ref        TEXT NOT NULL REFERENCES orders(order_ref),
        position_id      INTEGER NOT NULL REFERENCES positions(position_id),
        symbol           TEXT NOT NULL,
        side             TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
        quantity         INTEGER NOT NULL CHECK (quantity > 0),
        price            TEXT NOT NULL,
        commission       TEXT,
        executed_at      TEXT NOT NULL,
        recorded_at      TEXT NOT NULL
    )
    """,
    "CREATE INDEX fills_by_position ON fills(position_id)",
    """
    CREATE TABLE scores (
        score_id         INTEGER PRIMARY KEY,
        trading_day      TEXT NOT NULL,
        symbol           TEXT NOT NULL,
        scorer           TEXT NOT NULL,
        confidence       TEXT NOT NULL,
        inputs           TEXT NOT NULL,
        output           TEXT NOT NULL,
        scored_at        TEXT NOT NULL
    )
    """,
    "CREATE INDEX scores_by_day ON scores(trading_day)",
    """
    CREATE TABLE approvals (
        approval_id      INTEGER PRIMARY KEY,
        trading_day      TEXT NOT NULL,
        symbol           TEXT NOT NULL,
        request          TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
        requested_at     TEXT NOT NULL,
        decided_at       TEXT,
        decided_by       TEXT
    )
    """,
    """
    CREATE TABLE heartbeats (
        process          TEXT PRIMARY KEY,
        pid              INTEGER NOT NULL,
        code_version     TEXT NOT NULL,
        status           TEXT NOT NULL,
        detail           TEXT NOT NULL DEFAULT '',
        beat_at          TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE controls (
        name             TEXT PRIMARY KEY CHECK (name IN ('kill_switch', 'entries_paused')),
        enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        reason           TEXT NOT NULL,
        changed_by       TEXT NOT NULL,
        changed_at       TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE events (
        event_id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at               TEXT NOT NULL,
        process          TEXT NOT NULL,
        kind             TEXT NOT NULL,
        symbol           TEXT,
        position_id      INTEGER,
        message          TEXT NOT NULL,
        data             TEXT NOT NULL DEFAULT '{}'
    )
    """,
    """
    CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END
    """,
    """
    CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END
    """,
]

# Day steps and operator requests: the marks and the work that processes share.
_V2: list[Step] = [
    """
    CREATE TABLE day_steps (
        trading_day      TEXT NOT NULL,
        step             TEXT NOT NULL,
        process          TEXT NOT NULL,
        done_at          TEXT NOT NULL,
        detail           TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (trading_day, step)
    )
    """,
    """
    CREATE TABLE requests (
        request_id       INTEGER PRIMARY KEY,
        kind             TEXT NOT NULL CHECK (kind IN ('LIQUIDATE_MANAGED', 'LIQUIDATE_TODAY')),
        reason           TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('PENDING', 'DONE', 'FAILED')),
        requested_by     TEXT NOT NULL,
        requested_at     TEXT NOT NULL,
        finished_by      TEXT,
        finished_at      TEXT,
        outcome          TEXT NOT NULL DEFAULT ''
    )
    """,
]


def _add_missing_oca_group(conn: sqlite3.Connection) -> None:
    """Version 1 files written before orders recorded their OCA group lack the column (it
    was added to the version 1 DDL later): add it where it is missing."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(orders)")}
    if "oca_group" not in columns:
        conn.execute("ALTER TABLE orders ADD COLUMN oca_group TEXT")


_V3: list[Step] = [_add_missing_oca_group]

# The LLM scorer's journal: one row per call, whatever came of it.
_V4: list[Step] = [
    """
    CREATE TABLE llm_calls (
        call_id           INTEGER PRIMARY KEY,
        trading_day       TEXT NOT NULL,
        symbol            TEXT NOT NULL,
        provider          TEXT NOT NULL,
        model             TEXT NOT NULL,
        prompt_version    TEXT NOT NULL,
        prompt_hash       TEXT NOT NULL,
        inputs            TEXT NOT NULL,
        outcome           TEXT NOT NULL CHECK (outcome IN ('SCORED', 'NO_TRADE', 'INVALID',
                                   'REFUSED', 'FAILED', 'OVER_BUDGET')),
        reason            TEXT NOT NULL DEFAULT '',
        raw_answer        TEXT NOT NULL DEFAULT '',
        parsed            TEXT NOT NULL DEFAULT '{}',
        confidence        TEXT,
        latency_ms        INTEGER NOT NULL CHECK (latency_ms >= 0),
        prompt_tokens     INTEGER NOT NULL CHECK (prompt_tokens >= 0),
        completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
        cost_usd          TEXT NOT NULL,
        called_at         TEXT NOT NULL
    )
    """,
    "CREATE INDEX llm_calls_by_day ON llm_calls(trading_day)",
]

MIGRATIONS: tuple[tuple[int, Sequence[Step]], ...] = (
    (1, _V1),
    (2, _V2),
    (3, _V3),
    (4, _V4),
)
LATEST_VERSION = MIGRATIONS[-1][0]


def connect(path: Path, busy_timeout_ms: int, *, durable: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the ledger at ``path``; check it is ours.

    ``durable=False`` skips the fsync per commit: only for scratch ledgers (backtests) that
    may be lost in a power cut.
    """
    if path.is_dir():
        raise LedgerUnavailable(f"ledger path {path}: expected a file, found a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)
        conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise LedgerUnavailable(f"ledger {path}: cannot open ({exc})") from None
    try:
        _configure(conn, busy_timeout_ms, durable)
        _check_integrity(conn, path)
        _migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise LedgerBusy(f"ledger {path}: still locked after {busy_timeout_ms} ms") from None
        raise LedgerCorrupt(f"ledger {path}: expected an openbell SQLite ledger, {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _create_private(path: Path) -> None:
    """Create a new ledger file readable and writable by its owner only (0600): it holds
    the account's positions. SQLite gives its ``-wal`` and ``-shm`` files the same mode."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # an existing ledger, or another process created it just now
        return
    os.close(descriptor)


def connect_read_only(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open the existing ledger at ``path`` for reading only: SQLite refuses every write.

    Nothing is migrated or switched, and no data is written; like any WAL reader, SQLite may
    create the ``-wal`` and ``-shm`` files beside the ledger. A missing file, another database
    or a schema this openbell does not read is refused with what was expected and found.
    """
    if not path.is_file():
        raise LedgerUnavailable(
            f"ledger {path}: expected an openbell ledger file, found "
            f"{'a directory' if path.is_dir() else 'nothing'} (the bots create it on start)"
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA query_only = ON")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise LedgerUnavailable(f"ledger {path}: cannot open it to read ({exc})") from None
    if app_id != APPLICATION_ID or version != LATEST_VERSION:
        conn.close()
        found = (
            f"another SQLite database (application_id {app_id})"
            if app_id != APPLICATION_ID
            else f"schema version {version}"
        )
        raise LedgerUnavailable(
            f"ledger {path}: expected an openbell ledger at schema version {LATEST_VERSION}, "
            f"found {found}; an openbell of this version migrates it when a bot or command "
            "opens it to write"
        )
    return conn


def _enter_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> object:
    """Switch to WAL, retrying while another process holds the lock: SQLite does not wait
    (no busy handler) when two processes create the same new ledger at once."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _configure(conn: sqlite3.Connection, busy_timeout_ms: int, durable: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    mode = _enter_wal(conn, busy_timeout_ms)
    if str(mode).lower() != "wal":
        raise sqlite3.DatabaseError(f"expected WAL journal mode, found {mode}")
    # FULL: a committed fill survives a power cut, not only a process crash.
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
    if not durable:
        # A scratch ledger has one user: keep the lock instead of taking it per transaction.
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("PRAGMA foreign_keys = ON")


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise LedgerCorrupt(f"ledger {path}: integrity check failed: {verdict}")
    conn.execute("BEGIN")  # one snapshot: another process may be creating the ledger now
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[
            0
        ]
    finally:
        conn.execute("COMMIT")
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables > 0):
        raise LedgerCorrupt(
            f"ledger {path}: expected an openbell ledger, found another SQLite database "
            f"(application_id {app_id}, {tables} tables)"
        )


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > LATEST_VERSION:
            raise LedgerSchemaTooNew(
                f"ledger {path}: schema version {version} was written by a newer openbell; "
                f"this one knows up to version {LATEST_VERSION}. Upgrade openbell; "
                "nothing was changed"
            )
        for target, statements in MIGRATIONS:
            if target > version:
                for step in statements:
                    if isinstance(step, str):
                        conn.execute(step)
                    else:
                        step(conn)
                conn.execute(f"PRAGMA user_version = {target}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
