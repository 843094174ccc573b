"""The ledger file itself: creation, reopening, bad files, the append-only log."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.adapters.sqlite.schema import APPLICATION_ID, LATEST_VERSION
from openbell.domain.errors import (
    InvariantBroken,
    LedgerBusy,
    LedgerCorrupt,
    LedgerSchemaTooNew,
    LedgerUnavailable,
    ProtectedSymbol,
    StopAndAlert,
)
from openbell.domain.values import Confidence, Price, Quantity, Symbol

CLOCK = ManualClock(datetime(2025, 10, 29, 12, tzinfo=UTC))


def open_at(path: Path, **kwargs: object) -> SqliteLedger:
    return SqliteLedger.open(path, CLOCK, process="test", **kwargs)  # type: ignore[arg-type]


def test_a_new_file_is_created_in_wal_mode_with_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "ledger.sqlite"
    open_at(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    first = open_at(path)
    first.append_event("NOTE", "kept")
    first.close()
    assert [e.message for e in open_at(path).events()] == ["kept"]


def test_a_schema_from_a_newer_openbell_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    open_at(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(LedgerSchemaTooNew, match=f"schema version {LATEST_VERSION + 1}"):
        open_at(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION + 1


def test_a_file_that_is_not_a_database_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    garbage = b"this is not sqlite at all\n" * 100
    path.write_bytes(garbage)
    with pytest.raises(LedgerCorrupt, match="expected an openbell SQLite ledger"):
        open_at(path)
    assert path.read_bytes() == garbage


def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = open_at(path)
    for i in range(300):
        ledger.append_event("NOTE", "x" * 200 + str(i))
    ledger.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 3 : page * 3 + 200] = b"\xff" * 200  # scribble over a b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(StopAndAlert):
        open_at(path)


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerCorrupt, match="another SQLite database"):
        open_at(path)


def test_a_directory_is_not_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailable, match="found a directory"):
        open_at(tmp_path)


def test_an_unwritable_location_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerUnavailable, match="cannot open"):
        open_at(blocker / "ledger.sqlite")


def test_the_event_log_is_append_only_even_for_raw_sql(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    open_at(path).append_event("NOTE", "history")
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET message = 'rewritten'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")


def test_a_writer_that_holds_the_lock_too_long_gives_a_retryable_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = open_at(path, busy_timeout_ms=100)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerBusy):
            ledger.append_event("NOTE", "blocked")
    finally:
        blocker.execute("ROLLBACK")
    ledger.append_event("NOTE", "after")
    assert [e.message for e in ledger.events()] == ["after"]


def test_a_write_sqlite_refuses_becomes_an_alert_and_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = open_at(path)
    saboteur = sqlite3.connect(path)
    saboteur.execute(
        "CREATE TRIGGER no_scores BEFORE INSERT ON scores "
        "BEGIN SELECT RAISE(ABORT, 'scores are frozen'); END"
    )
    saboteur.commit()
    with pytest.raises(InvariantBroken, match="scores are frozen"):
        ledger.record_score(
            date(2025, 10, 29), Symbol("WULF"), "rules", Confidence(Decimal("0.8")), {}, {}
        )
    ledger.append_event("NOTE", "still usable")  # the failed transaction did not linger
    assert [e.message for e in ledger.events()] == ["still usable"]


def test_a_batch_commits_together_and_a_refusal_inside_undoes_only_itself(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = open_at(path, protected_symbols=frozenset({Symbol("SKYX")}))
    with ledger.batch():
        ledger.append_event("NOTE", "one")
        with pytest.raises(ProtectedSymbol):
            ledger.adopt(
                Symbol("SKYX"), Quantity(182), Price(Decimal("1.2")), "x", date(2025, 10, 29)
            )
        with ledger.batch():  # nested: still the same transaction
            ledger.append_event("NOTE", "two")
        outside = sqlite3.connect(path)  # another connection sees nothing yet
        assert outside.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert [e.kind for e in ledger.events()] == ["NOTE", "REFUSED", "NOTE"]
    assert ledger.positions_of_day(date(2025, 10, 29)) == []
    assert outside.execute("SELECT count(*) FROM events").fetchone()[0] == 3


def test_an_error_escaping_a_batch_rolls_all_of_it_back(tmp_path: Path) -> None:
    ledger = open_at(tmp_path / "ledger.sqlite")

    def failing_step() -> None:
        with ledger.batch():
            ledger.append_event("NOTE", "lost")
            raise RuntimeError("the step failed")

    with pytest.raises(RuntimeError):
        failing_step()
    assert ledger.events() == []
    ledger.append_event("NOTE", "after")  # the ledger is usable again
    assert [e.message for e in ledger.events()] == ["after"]


_CREATE_MANY = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
folder, start = Path(sys.argv[1]), float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
for i in range(int(sys.argv[3])):
    clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
    SqliteLedger.open(folder / f"ledger-{i}.sqlite", clock, process="p").close()
"""


def test_processes_creating_the_same_new_ledgers_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL does not wait for a lock, and the check that the file is
    ours must not read half of another process's creation: both are retried or snapshotted."""
    start = time.time() + 2  # every process is importing by then; all begin together
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATE_MANY, str(tmp_path), str(start), "120"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], "\n".join(errors)
    assert len(list(tmp_path.glob("ledger-*.sqlite"))) == 120


def test_a_new_ledger_and_its_journal_files_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "private" / "ledger.sqlite"
    ledger = SqliteLedger.open(
        path, ManualClock(datetime(2016, 4, 29, 13, 0, tzinfo=UTC)), process="t"
    )
    try:
        ledger.set_control("entries_paused", True, "a write, so the WAL exists")
        for file in (
            path,
            path.with_name("ledger.sqlite-wal"),
            path.with_name("ledger.sqlite-shm"),
        ):
            assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file
    finally:
        ledger.close()
