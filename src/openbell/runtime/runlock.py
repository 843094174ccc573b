"""One run per ledger: the supervisor and every process it starts hold one lock open.

``openbell run`` takes an exclusive ``flock`` on ``<ledger>.run.lock`` before it opens the
ledger, and hands the same open file to each child it starts (``pass_fds``). The kernel
releases such a lock only when the last process holding the file is gone. So a second
``openbell run`` on the same ledger waits while any process of the first is alive: after the
supervisor is killed with SIGKILL its bots and gateway run on for a moment (until they see
they are orphaned), and a supervisor started again at once would otherwise start a second
day-trader beside the first, with the same client id and the same ledger.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from openbell.domain.errors import Conflict

LOCK_SUFFIX = ".run.lock"
WAIT_S = 30.0
"""How long a new run waits for the processes of the previous one to stop."""
_POLL_S = 0.1


def run_lock_path(ledger: Path) -> Path:
    """The lock file of the runs on ``ledger``: beside it, named after it."""
    return ledger.with_name(ledger.name + LOCK_SUFFIX)


class RunLock:
    """The held lock: an open file descriptor the children inherit."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def release(self) -> None:
        """Close this process's hold (children still running keep the lock)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def acquire_run_lock(
    ledger: Path,
    say: Callable[[str], None],
    wait_s: float = WAIT_S,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> RunLock:
    """Hold the run lock of ``ledger``, waiting up to ``wait_s`` seconds for the processes of
    an earlier run to stop; raise :class:`Conflict` saying who holds it when they do not."""
    path = run_lock_path(ledger)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = monotonic() + wait_s
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if monotonic() >= deadline:
                    raise Conflict(
                        f"another openbell run on {ledger} is still going (the run of "
                        f"supervisor pid {holder}, or a process it started, holds {path}); "
                        f"waited {wait_s:g} s. Stop it first, or point this run at another "
                        "ledger"
                    ) from None
                if not waiting:
                    say(
                        f"supervisor: waiting up to {wait_s:g} s for the processes of the "
                        f"previous run on this ledger (supervisor pid {holder}) to stop"
                    )
                    waiting = True
                sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return RunLock(fd, path)


def _holder(fd: int) -> str:
    """The pid the holder wrote into the file, or ``unknown``."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return text if text.isdigit() else "unknown"
