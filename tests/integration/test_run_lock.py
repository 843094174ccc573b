"""One run per ledger: the run lock is held by the supervisor and by every process it started.

Real processes: a child that inherited the lock keeps it after its parent let go, and a new
run waits for it, then takes the lock or refuses saying who holds it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openbell.domain.errors import Conflict
from openbell.runtime.runlock import acquire_run_lock, run_lock_path

_HOLD = "import sys, time; sys.stdin.read(); time.sleep(0)"
"""A child that holds whatever it inherited until its stdin closes."""


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "var" / "ledger.sqlite"


def _child_holding(fd: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _HOLD], stdin=subprocess.PIPE, pass_fds=(fd,), close_fds=True
    )


@pytest.fixture
def orphan(ledger: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child started under the lock, whose parent (this process) then let go of it."""
    lock = acquire_run_lock(ledger, lambda _: None)
    child = _child_holding(lock.fd)
    lock.release()
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        assert child.stdin is not None
        child.stdin.close()


def test_the_lock_file_sits_beside_the_ledger_owner_only_and_names_the_supervisor(
    ledger: Path,
) -> None:
    lock = acquire_run_lock(ledger, lambda _: None)
    try:
        path = run_lock_path(ledger)
        assert path == ledger.parent / "ledger.sqlite.run.lock"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_a_child_of_the_run_keeps_the_lock_after_the_supervisor_is_gone(
    ledger: Path, orphan: subprocess.Popen[bytes]
) -> None:
    said: list[str] = []
    with pytest.raises(Conflict) as refused:
        acquire_run_lock(ledger, said.append, wait_s=0.3)
    assert f"supervisor pid {os.getpid()}" in str(refused.value)
    assert str(run_lock_path(ledger)) in str(refused.value)
    assert said == [
        "supervisor: waiting up to 0.3 s for the processes of the previous run on this ledger "
        f"(supervisor pid {os.getpid()}) to stop"
    ]


def test_a_new_run_waits_for_the_last_process_of_the_old_one_then_takes_the_lock(
    ledger: Path, orphan: subprocess.Popen[bytes]
) -> None:
    said: list[str] = []
    stopped_at: list[float] = []

    def the_orphan_stops_after_a_while(seconds: float) -> None:
        if len(said) == 1 and not stopped_at and orphan.poll() is None:
            assert orphan.stdin is not None
            orphan.stdin.close()
            orphan.wait(timeout=10)
            stopped_at.append(time.monotonic())
        time.sleep(seconds)

    lock = acquire_run_lock(ledger, said.append, wait_s=20, sleep=the_orphan_stops_after_a_while)
    try:
        assert stopped_at, "the lock was taken while the old run's process still held it"
        assert len(said) == 1
        assert run_lock_path(ledger).read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_after_a_release_the_next_run_takes_the_lock_at_once(ledger: Path) -> None:
    said: list[str] = []
    acquire_run_lock(ledger, said.append).release()
    acquire_run_lock(ledger, said.append, wait_s=0).release()
    assert said == []
