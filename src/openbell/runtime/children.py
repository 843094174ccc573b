"""The supervisor's child processes: start, watch, restart and stop them, and log their output.

A :class:`Child` runs one ``python -m openbell ...`` process in its own process group (so a
terminal Ctrl-C reaches only the supervisor, which forwards it) and hands every line the process
writes, stdout and stderr merged, to a callback. :class:`RestartPolicy` says how long to wait
before starting a dead child again. :func:`parse_line` turns a line into the terminal text and a
structured record, :func:`prefix` labels the text for the shared terminal and
:class:`DailyJsonLogs` appends the record to one JSON-lines file per process per day.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

from openbell.domain.errors import Conflict, InvalidValue, RetryLater

MAX_LINE_BYTES = 64 * 1024
"""The longest line delivered whole; the rest of a longer line is dropped."""
CUT_MARK = " …[cut]"
"""Appended to a line that was longer than :data:`MAX_LINE_BYTES`."""
TOO_DEEP = "…[too deep]"
"""Written in place of what a logged record nests deeper than 32 levels."""

_MAX_DEPTH = 32
_JOIN_S = 5.0
_PROCESS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildSpec:
    """What to run: ``argv`` in ``cwd`` with exactly ``env`` as its environment."""

    name: str
    """The process name shown in the terminal and used for its log files (e.g. ``day-trader``)."""
    argv: tuple[str, ...]
    env: Mapping[str, str]
    """The complete environment of the child; nothing is inherited from the supervisor."""
    cwd: Path | None = None
    fresh_env: Callable[[], Mapping[str, str]] | None = None
    """Variables computed again at every start and laid over ``env`` (e.g. the bytecode cache
    of the code installed at that moment, which a restart for new code must not inherit)."""
    pass_fds: tuple[int, ...] = ()
    """Open files the child inherits (the run lock, which it then holds while it lives)."""


class Child:
    """One supervised process and the thread that reads its output.

    ``on_line(name, line)`` is called from the reader thread for every line the process writes
    on stdout or stderr, in order, decoded as UTF-8 (bad bytes replaced) without the newline.
    ``start`` and ``stop`` belong to one owner thread; ``kill`` and the queries may be called
    from any thread.
    """

    def __init__(self, spec: ChildSpec, on_line: Callable[[str, str], None]) -> None:
        self.spec = spec
        self._on_line = on_line
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._started_at: float | None = None

    @property
    def pid(self) -> int | None:
        """The pid of the last start (also after it exited); None if never started."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        """Whether the last started process is alive; once it exited, clean up its group."""
        return self._process is not None and self._poll() is None

    @property
    def exit_code(self) -> int | None:
        """The exit code of the last run, negative for a signal; None while running or unstarted."""
        return self._poll()

    @property
    def started_at(self) -> float | None:
        """``time.monotonic()`` of the last start; None if never started."""
        return self._started_at

    def start(self) -> None:
        """Start the process in a new session and begin delivering its lines.

        What is left of a previous run (its process group, its reader) is cleaned up first.
        Raise :class:`Conflict` if the process is running, :class:`InvalidValue` if the program
        or the working directory cannot be used and :class:`RetryLater` if the system could
        not start it for a transient reason (no memory, too many processes, ``fresh_env``
        failing to read a file).
        """
        if self.running:
            raise Conflict(f"child {self.spec.name} is already running as pid {self.pid}")
        if self._process is not None:
            self.stop(grace_s=0.0)
        self._process = self._spawn()
        self._started_at = time.monotonic()
        stream = self._process.stdout
        assert stream is not None  # stdout=PIPE always gives a stream
        self._reader = threading.Thread(
            target=self._read,
            args=(stream,),
            name=f"openbell-child-{self.spec.name}",
            daemon=True,
        )
        self._reader.start()

    def stop(self, grace_s: float = 10.0) -> int | None:
        """Stop the process and its whole group; return its exit code (None if never started).

        Send SIGTERM to the group and wait up to ``grace_s`` seconds for the process to exit,
        then SIGKILL whatever is left of the group (the process too, if it is still running),
        so nothing outlives the stop: the child is expected to stop its own children before
        it exits. Return once the output is delivered (the reader is joined for up to 5 s).
        Safe on a process that already exited or was killed.
        """
        process = self._process
        if process is None:
            return None
        if self._poll() is None:
            self._signal(signal.SIGTERM)
            if not _wait_exited(process.pid, grace_s):
                _log.warning("child %s ignored SIGTERM for %.1f s", self.spec.name, grace_s)
        code = self._finish()
        self._join_reader()
        return code

    def kill(self) -> None:
        """SIGKILL the process group now; do not wait (a later ``stop`` reaps and joins)."""
        self._signal(signal.SIGKILL)

    def _spawn(self) -> subprocess.Popen[bytes]:
        spec = self.spec
        env = self._environment()
        try:
            # The argv comes from the composition root, never from outside input.
            return subprocess.Popen(  # noqa: S603
                spec.argv,
                env=env,
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=spec.pass_fds,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            raise InvalidValue(
                f"child {spec.name} command {list(spec.argv)} in {spec.cwd or 'the current dir'}",
                "an executable program and an existing working directory",
                f"{type(exc).__name__}: {exc}",
            ) from exc
        except OSError as exc:
            raise RetryLater(
                f"could not start child {spec.name} ({list(spec.argv)}): {exc}"
            ) from exc

    def _environment(self) -> Mapping[str, str]:
        spec = self.spec
        if spec.fresh_env is None:
            return spec.env
        try:
            return {**spec.env, **spec.fresh_env()}
        except OSError as exc:  # e.g. a source file removed while an install replaces it
            raise RetryLater(
                f"could not compute the environment of child {spec.name}: {exc}"
            ) from exc

    def _poll(self) -> int | None:
        process = self._process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        return self._finish() if _has_exited(process.pid) else None

    def _finish(self) -> int:
        """Kill what is left of the exited process's group, then reap the process.

        Until it is reaped the exited process is a zombie that keeps its pid, which is also
        the group id, from being reused, so the SIGKILL cannot reach an unrelated group.
        """
        assert self._process is not None  # only called for a started process
        self._signal(signal.SIGKILL)
        return self._process.wait()

    def _signal(self, signum: signal.Signals) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return  # never signal a reaped pid: it may belong to someone else by now
        with contextlib.suppress(ProcessLookupError):  # the whole group is already gone
            os.killpg(process.pid, signum)

    def _join_reader(self) -> None:
        reader = self._reader
        if reader is None:
            return
        reader.join(_JOIN_S)
        if reader.is_alive():
            # Only a process that left the group can still hold the pipe open.
            _log.warning("child %s: output pipe still open after stop", self.spec.name)
        else:
            self._reader = None

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            while True:
                line = _read_line(stream)
                if line is None:
                    return
                try:
                    self._on_line(self.spec.name, line)
                except Exception:
                    # Keep draining: a stalled pipe would block the child on its next write.
                    _log.exception("child %s: the line handler failed", self.spec.name)


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists on this machine (the ledger is a local file)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _has_exited(pid: int) -> bool:
    """Whether the child ``pid`` has exited, without reaping it."""
    try:
        state = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True  # already reaped
    return state is not None


def _wait_exited(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for the child ``pid`` to exit, without reaping it."""
    deadline = time.monotonic() + timeout_s
    pause_s = 0.001
    while not _has_exited(pid):
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            return False
        time.sleep(min(pause_s, remaining_s))
        pause_s = min(pause_s * 2, 0.05)
    return True


def _read_line(stream: IO[bytes]) -> str | None:
    """The next line without its newline, cut to MAX_LINE_BYTES; None at the end of output."""
    raw = stream.readline(MAX_LINE_BYTES + 1)
    if not raw:
        return None
    if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
        return raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
    rest = raw
    while rest and not rest.endswith(b"\n"):  # read and drop the rest of the long line
        rest = stream.readline(MAX_LINE_BYTES)
    return raw[:MAX_LINE_BYTES].decode("utf-8", errors="replace") + CUT_MARK


class RestartPolicy:
    """Exponential backoff between restarts of one child; pure, the time is injected.

    Call :meth:`started` when the child starts and :meth:`exited` when it dies; the latter
    returns how many seconds to wait before starting it again.
    """

    def __init__(
        self,
        initial_s: float = 1.0,
        factor: float = 2.0,
        max_s: float = 60.0,
        stable_after_s: float = 300.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        finite = math.isfinite
        _require(initial_s > 0 and finite(initial_s), "initial_s", "a finite number > 0", initial_s)
        _require(factor >= 1 and finite(factor), "factor", "a finite number >= 1", factor)
        _require(max_s >= initial_s and finite(max_s), "max_s", "finite and >= initial_s", max_s)
        _require(stable_after_s > 0, "stable_after_s", "a number > 0 (inf: never)", stable_after_s)
        self._initial_s = initial_s
        self._factor = factor
        self._max_s = max_s
        self._stable_after_s = stable_after_s
        self._now = now
        self._next_delay_s = initial_s
        self._attempts = 0
        self._started_at: float | None = None

    @property
    def attempts(self) -> int:
        """Restarts scheduled by :meth:`exited` since the last reset."""
        return self._attempts

    def started(self) -> None:
        """Note that the child started now."""
        self._started_at = self._now()

    def exited(self) -> float:
        """Return the seconds to wait before the next start.

        ``initial_s`` the first time, then ``factor`` times the previous delay, at most
        ``max_s``. A child that ran at least ``stable_after_s`` before this exit counts as
        healthy: the backoff starts over at ``initial_s``. An exit without a noted start
        counts as a run of zero seconds.
        """
        ran_s = 0.0 if self._started_at is None else self._now() - self._started_at
        self._started_at = None
        if ran_s >= self._stable_after_s:
            self._next_delay_s = self._initial_s
            self._attempts = 0
        delay_s = self._next_delay_s
        self._next_delay_s = min(delay_s * self._factor, self._max_s)
        self._attempts += 1
        return delay_s


def _require(ok: bool, name: str, expected: str, found: float) -> None:
    if not ok:
        raise InvalidValue(f"RestartPolicy {name}", expected, found)


class DailyJsonLogs:
    """One JSON-lines file per process per day: ``root/<YYYY-MM-DD>/<process>.jsonl``.

    Every string in a record passes through ``redact`` before it is written, so a secret a
    child prints never reaches the file. Files are created owner-only (0o600, directories
    0o700) and stay open until :meth:`close` or the process's next day; a write after
    ``close`` opens the file again. Safe to call from several threads at once.
    """

    def __init__(self, root: Path, redact: Callable[[str], str] = lambda s: s) -> None:
        self._root = root
        self._redact = redact
        self._lock = threading.Lock()
        self._open: dict[str, tuple[date, IO[str]]] = {}

    def write(self, process: str, day: date, record: Mapping[str, object]) -> Path:
        """Append ``record`` as one JSON line to the process's file for ``day``; return its path.

        Raise :class:`InvalidValue` for a process name that is not a plain file name and
        ``OSError`` if the file cannot be written.
        """
        if not _PROCESS_NAME.fullmatch(process):
            raise InvalidValue("log process name", "letters, digits, '.', '_' or '-'", process)
        line = json.dumps(self._redacted(record)) + "\n"
        path = self._root / day.isoformat() / f"{process}.jsonl"
        with self._lock:
            handle = self._handle(process, day, path)
            handle.write(line)
            handle.flush()
        return path

    def close(self) -> None:
        """Close every open file."""
        with self._lock:
            for _, handle in self._open.values():
                handle.close()
            self._open.clear()

    def _handle(self, process: str, day: date, path: Path) -> IO[str]:
        current = self._open.get(process)
        if current is not None and current[0] == day:
            return current[1]
        if current is not None:
            current[1].close()
            del self._open[process]
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        handle = open(os.open(path, flags, 0o600), "a", encoding="utf-8")  # noqa: SIM115
        self._open[process] = (day, handle)
        return handle

    def _redacted(self, value: object, depth: int = 0) -> object:
        if isinstance(value, str):
            return self._redact(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth >= _MAX_DEPTH:  # keeps json.dumps clear of the recursion limit
            return TOO_DEEP
        if isinstance(value, Mapping):
            return {self._redact(str(k)): self._redacted(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redacted(v, depth + 1) for v in value]
        return self._redact(str(value))


def parse_line(process: str, line: str, wall_now: datetime) -> tuple[str, dict[str, object]]:
    """Split one output line into the terminal text and the record to log; never raise.

    A JSON object (what openbell's own logging writes) keeps its fields, with ``process`` set
    to ``process``, and shows as ``HH:MM:SS LEVEL message`` (plus the exception's lines) at its
    own ``at``, or at ``wall_now`` without one, in ``wall_now``'s time zone. Anything else (a
    print, a traceback line) shows as is and is logged as level ``OUTPUT`` at ``wall_now``.
    ``wall_now`` must be timezone-aware.
    """
    parsed = _json_object(line)
    if parsed is None:
        at = wall_now.astimezone(UTC).isoformat(timespec="milliseconds")
        return line, {"at": at, "level": "OUTPUT", "process": process, "message": line}
    record = {str(key): value for key, value in parsed.items()}
    record["process"] = process
    shown_at = _shown_instant(record.get("at"), wall_now)
    message = str(record["message"]) if "message" in record else line
    text = f"{shown_at:%H:%M:%S} {record.get('level', 'INFO')} {message}"
    exception = record.get("exception")
    if exception:
        text += "\n" + str(exception)
    return text, record


def _json_object(line: str) -> dict[object, object] | None:
    if not line.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(line)
    except (ValueError, RecursionError):  # bad JSON, huge integers, absurd nesting
        return None
    return parsed if isinstance(parsed, dict) else None


def _shown_instant(at: object, wall_now: datetime) -> datetime:
    """The record's ``at`` in ``wall_now``'s zone (naive means UTC); ``wall_now`` if unusable."""
    if not isinstance(at, str):
        return wall_now
    try:
        instant = datetime.fromisoformat(at)
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        return instant.astimezone(wall_now.tzinfo)
    except (ValueError, OverflowError):
        return wall_now


def prefix(process: str, text: str, width: int = 12) -> str:
    """Label every line of ``text`` as ``f"{process:<{width}}| {line}"`` for the terminal."""
    label = f"{process:<{width}}| "
    return "\n".join(label + part for part in text.split("\n"))
