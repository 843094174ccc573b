"""Child processes for real: output, stop and kill of the whole group, daily JSON logs."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from openbell.domain.errors import Conflict, InvalidValue, RetryLater
from openbell.runtime.children import (
    CUT_MARK,
    MAX_LINE_BYTES,
    TOO_DEEP,
    Child,
    ChildSpec,
    DailyJsonLogs,
    parse_line,
    prefix,
)

DEADLINE_S = 3.0
SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(30)\n"


class Lines:
    """Collects what a child writes, as the supervisor's ``on_line`` would."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.seen: list[tuple[str, str]] = []

    def __call__(self, name: str, line: str) -> None:
        with self._changed:
            self.seen.append((name, line))
            self._changed.notify_all()

    @property
    def texts(self) -> list[str]:
        with self._changed:
            return [line for _, line in self.seen]

    def wait_for(self, predicate: Callable[[str], bool]) -> str:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((line for _, line in self.seen if predicate(line)), None),
                timeout=DEADLINE_S,
            )
        assert found is not None, f"no matching line in {self.seen!r}"
        return found


Start = Callable[..., tuple[Child, Lines]]


@pytest.fixture
def start_child() -> Iterator[Start]:
    """Start ``python -c script`` as a child; every child is stopped when the test ends."""
    children: list[Child] = []

    def start(script: str, name: str = "day-trader", **env: str) -> tuple[Child, Lines]:
        lines = Lines()
        spec = ChildSpec(name, (sys.executable, "-u", "-c", script), {**os.environ, **env})
        child = Child(spec, lines)
        children.append(child)
        child.start()
        return child, lines

    yield start
    for child in children:
        child.stop(grace_s=0.0)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs: absent, or a zombie waiting for init to reap it."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            stat_line = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat_line.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.01)
    return False


# --- output ---------------------------------------------------------------------------------


def test_stdout_and_stderr_lines_arrive_in_order(start_child: Start) -> None:
    script = (
        "import sys\n"
        "for i in range(3):\n"
        "    print(f'out {i}')\n"
        "    print(f'err {i}', file=sys.stderr)\n"
        "print('no newline at the end', end='')\n"
    )
    child, lines = start_child(script, name="exit-manager")
    _wait_until(lambda: not child.running)
    assert child.stop() == 0
    assert lines.seen == [
        ("exit-manager", text)
        for text in ["out 0", "err 0", "out 1", "err 1", "out 2", "err 2", "no newline at the end"]
    ]


def test_invalid_utf8_is_replaced(start_child: Start) -> None:
    script = "import sys\nsys.stdout.buffer.write(b'bad \\xff\\xfe end\\r\\nnext\\n')\n"
    child, lines = start_child(script)
    _wait_until(lambda: not child.running)
    assert child.stop() == 0
    assert lines.texts == ["bad \ufffd\ufffd end", "next"]


def test_a_huge_line_is_cut(start_child: Start) -> None:
    script = (
        "import sys\n"
        f"sys.stdout.write('y' * {MAX_LINE_BYTES} + '\\n')\n"
        "sys.stdout.write('x' * 200 * 1024 + '\\nafter\\n')\n"
    )
    child, lines = start_child(script)
    _wait_until(lambda: not child.running)
    assert child.stop() == 0
    assert lines.texts == ["y" * MAX_LINE_BYTES, "x" * MAX_LINE_BYTES + CUT_MARK, "after"]


def test_a_failing_line_handler_does_not_stall_the_output() -> None:
    seen: list[str] = []

    def on_line(name: str, line: str) -> None:
        seen.append(line)
        if line == "boom":
            raise RuntimeError("the handler broke")

    script = "print('boom')\nprint('still here')\n"
    child = Child(ChildSpec("gateway", (sys.executable, "-c", script), dict(os.environ)), on_line)
    child.start()
    _wait_until(lambda: not child.running)
    assert child.stop() == 0
    assert seen == ["boom", "still here"]


def test_the_child_gets_exactly_its_env_and_cwd(tmp_path: Path) -> None:
    lines = Lines()
    script = "import os\nprint(os.getcwd())\nprint(sorted(os.environ))\n"
    env = {"OPENBELL_PROBE": "yes"}
    child = Child(ChildSpec("probe", (sys.executable, "-c", script), env, tmp_path), lines)
    child.start()
    _wait_until(lambda: not child.running)
    assert child.stop() == 0
    cwd, names = lines.texts
    assert Path(cwd).resolve() == tmp_path.resolve()
    assert "OPENBELL_PROBE" in names
    assert "PATH" not in names


# --- starting -------------------------------------------------------------------------------


def test_a_missing_executable_raises_saying_what_was_run(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-openbell")
    child = Child(ChildSpec("day-trader", (missing, "day-trader"), {}), Lines())
    with pytest.raises(InvalidValue, match="no-such-openbell") as raised:
        child.start()
    assert "day-trader" in str(raised.value)
    assert not child.running
    assert child.pid is None
    assert child.stop() is None


def test_a_never_started_child() -> None:
    child = Child(ChildSpec("day-trader", (sys.executable,), {}), Lines())
    assert (child.pid, child.running, child.exit_code, child.started_at) == (
        None,
        False,
        None,
        None,
    )
    assert child.stop() is None
    child.kill()  # nothing to kill; no error


def test_starting_a_running_child_raises_and_a_dead_one_restarts(start_child: Start) -> None:
    child, lines = start_child(SLEEPER)
    lines.wait_for(lambda line: line == "ready")
    first_pid, first_start = child.pid, child.started_at
    with pytest.raises(Conflict, match="already running"):
        child.start()
    child.kill()
    _wait_until(lambda: not child.running)
    child.start()
    assert child.running
    assert child.pid != first_pid
    assert child.started_at is not None and first_start is not None
    assert child.started_at > first_start
    _wait_until(lambda: lines.texts == ["ready", "ready"])


# --- stopping -------------------------------------------------------------------------------


def test_stop_returns_the_code_of_a_child_that_exits_on_sigterm(start_child: Start) -> None:
    script = (
        "import signal, sys, time\n"
        "def bye(signum, frame):\n"
        "    print('bye', flush=True)\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, bye)\n" + SLEEPER
    )
    child, lines = start_child(script)
    lines.wait_for(lambda line: line == "ready")
    began = time.monotonic()
    assert child.stop(grace_s=5.0) == 3
    assert time.monotonic() - began < 2.0
    assert lines.texts == ["ready", "bye"]
    assert not child.running
    assert child.exit_code == 3


def test_a_child_ignoring_sigterm_is_killed_after_the_grace(start_child: Start) -> None:
    script = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SLEEPER
    child, lines = start_child(script)
    lines.wait_for(lambda line: line == "ready")
    pid = child.pid
    assert pid is not None
    began = time.monotonic()
    assert child.stop(grace_s=0.5) == -signal.SIGKILL
    assert time.monotonic() - began >= 0.5
    assert not child.running
    assert _gone(pid)


def test_stop_leaves_no_grandchild_even_one_ignoring_sigterm(start_child: Start) -> None:
    grandchild = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SLEEPER
    script = (
        "import subprocess, sys, time\n"
        f"spawned = subprocess.Popen([sys.executable, '-u', '-c', {grandchild!r}])\n"
        "print(f'grandchild {spawned.pid}', flush=True)\n"
        "time.sleep(30)\n"
    )
    child, lines = start_child(script)
    grandchild_pid = int(lines.wait_for(lambda line: line.startswith("grandchild")).split()[1])
    lines.wait_for(lambda line: line == "ready")
    began = time.monotonic()
    assert child.stop(grace_s=5.0) == -signal.SIGTERM
    assert time.monotonic() - began < 2.0
    assert _gone(grandchild_pid)


def test_kill_ends_the_child_at_once(start_child: Start) -> None:
    child, lines = start_child(SLEEPER)
    lines.wait_for(lambda line: line == "ready")
    child.kill()
    _wait_until(lambda: not child.running)
    assert child.exit_code == -signal.SIGKILL
    assert child.stop() == -signal.SIGKILL
    assert child.stop() == -signal.SIGKILL  # stopping twice is harmless


# --- daily JSON logs ------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_daily_logs_one_owner_only_file_per_process_per_day(tmp_path: Path) -> None:
    logs = DailyJsonLogs(tmp_path / "logs", redact=lambda s: s.replace("sk-live-42", "********"))
    monday, tuesday = date(2024, 3, 4), date(2024, 3, 5)
    try:
        first = logs.write("day-trader", monday, {"message": "key sk-live-42", "n": 1})
        logs.write("day-trader", monday, {"message": "again", "extra": {"k": ["sk-live-42"]}})
        other = logs.write("exit-manager", monday, {"message": "hi"})
        next_day = logs.write("day-trader", tuesday, {"message": "new day", "at": date(2024, 3, 5)})
    finally:
        logs.close()
    assert first == tmp_path / "logs" / "2024-03-04" / "day-trader.jsonl"
    assert other == tmp_path / "logs" / "2024-03-04" / "exit-manager.jsonl"
    assert next_day == tmp_path / "logs" / "2024-03-05" / "day-trader.jsonl"
    assert [json.loads(line) for line in first.read_text().splitlines()] == [
        {"message": "key ********", "n": 1},
        {"message": "again", "extra": {"k": ["********"]}},
    ]
    assert json.loads(next_day.read_text()) == {"message": "new day", "at": "2024-03-05"}
    assert {_mode(first), _mode(other), _mode(next_day)} == {0o600}
    assert {_mode(first.parent), _mode(next_day.parent), _mode(tmp_path / "logs")} == {0o700}


def test_daily_logs_from_many_threads_keep_every_line_whole(tmp_path: Path) -> None:
    logs = DailyJsonLogs(tmp_path)
    day = date(2024, 3, 4)

    def write(process: str) -> None:
        for n in range(200):
            logs.write(process, day, {"n": n, "message": "x" * 500})

    threads = [threading.Thread(target=write, args=(p,)) for p in ["a", "b", "a", "b"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logs.close()
    for process in ["a", "b"]:
        records = [
            json.loads(line)
            for line in (tmp_path / "2024-03-04" / f"{process}.jsonl").read_text().splitlines()
        ]
        assert sorted(r["n"] for r in records) == sorted([*range(200), *range(200)])


def test_daily_logs_write_a_deeply_nested_record(tmp_path: Path) -> None:
    nested: dict[str, object] = {"leaf": "sk-live-42"}
    for _ in range(2000):
        nested = {"a": nested}
    logs = DailyJsonLogs(tmp_path, redact=lambda s: s.replace("sk-live-42", "********"))
    try:
        path = logs.write("gateway", date(2024, 3, 4), nested)
    finally:
        logs.close()
    text = path.read_text()
    assert json.dumps(TOO_DEEP) in text
    assert "sk-live-42" not in text


def test_daily_logs_refuse_a_process_name_that_is_a_path(tmp_path: Path) -> None:
    logs = DailyJsonLogs(tmp_path)
    with pytest.raises(InvalidValue, match="process name"):
        logs.write("../escape", date(2024, 3, 4), {})
    logs.close()
    assert list(tmp_path.iterdir()) == []


# --- parsing and the terminal view ----------------------------------------------------------

WALL = datetime(2024, 3, 4, 14, 31, 5, 123456, tzinfo=UTC)


def test_parse_line_keeps_a_json_record_and_shows_its_own_time() -> None:
    line = json.dumps(
        {
            "at": "2024-03-04T14:30:00.250+00:00",
            "level": "WARNING",
            "process": "someone-else",
            "logger": "openbell.x",
            "message": "stop moved",
        }
    )
    text, record = parse_line("day-trader", line, WALL)
    assert text == "14:30:00 WARNING stop moved"
    assert record == {
        "at": "2024-03-04T14:30:00.250+00:00",
        "level": "WARNING",
        "process": "day-trader",
        "logger": "openbell.x",
        "message": "stop moved",
    }


def test_parse_line_shows_time_in_the_wall_clocks_zone_and_the_exception() -> None:
    new_york = WALL.astimezone(timezone(timedelta(hours=-5)))
    line = json.dumps(
        {"at": "2024-03-04T14:30:00", "level": "ERROR", "message": "failed", "exception": "Tb\n  x"}
    )
    text, _ = parse_line("gateway", line, new_york)
    assert text == "09:30:00 ERROR failed\nTb\n  x"


def test_parse_line_logs_other_output_as_is() -> None:
    text, record = parse_line("exit-manager", 'Traceback (most recent call last): {"a"', WALL)
    assert text == 'Traceback (most recent call last): {"a"'
    assert record == {
        "at": "2024-03-04T14:31:05.123+00:00",
        "level": "OUTPUT",
        "process": "exit-manager",
        "message": text,
    }


@pytest.mark.parametrize(
    "line",
    [
        "",
        "{",
        "[1, 2]",
        "42",
        "null",
        '{"at": 5, "level": null, "message": [1, {"a": 2}]}',
        '{"at": "not a time", "level": {"x": 1}}',
        '{"at": "9999-12-31T23:59:59-23:59", "message": "overflow"}',
        '{"n": 1' + "0" * 5000 + "}",
        "[" * 100_000,
        "{" * 100_000,
        '{"a": ' * 50_000,
        '{"a": ' * 900 + "1" + "}" * 900,
        '{"message": "\\ud800 lone surrogate", "exception": 0}',
        "\x00\x1b[31mred\x1b[0m\ufffd",
        '{"message": NaN, "at": Infinity}',
    ],
)
def test_parse_line_never_raises(line: str, tmp_path: Path) -> None:
    text, record = parse_line("day-trader", line, WALL)
    assert isinstance(text, str)
    assert record["process"] == "day-trader"
    logs = DailyJsonLogs(tmp_path)
    try:
        logs.write("day-trader", WALL.date(), record)
    finally:
        logs.close()


def test_prefix_labels_every_line() -> None:
    assert prefix("day-trader", "hello") == "day-trader  | hello"
    assert prefix("gateway", "a\nb", width=8) == "gateway | a\ngateway | b"


# --- an environment computed at each start ------------------------------------------------


def test_fresh_env_is_computed_again_at_every_start_over_the_fixed_env(tmp_path: Path) -> None:
    """A restart gets the variables as they are then: a child restarted for new code gets
    the new code's bytecode cache, not the one computed when the supervisor started."""
    caches: list[Path] = []

    def bytecode_env() -> dict[str, str]:
        caches.append(tmp_path / f"cache-{len(caches) + 1}")
        return {"PYTHONPYCACHEPREFIX": str(caches[-1]), "OPENBELL_A": "fresh"}

    script = (
        "import os, sys\nprint(sys.pycache_prefix, *(os.environ[f'OPENBELL_{n}'] for n in 'AB'))\n"
    )
    env = {**os.environ, "OPENBELL_A": "fixed", "OPENBELL_B": "fixed"}
    lines = Lines()
    spec = ChildSpec("day-trader", (sys.executable, "-c", script), env, fresh_env=bytecode_env)
    child = Child(spec, lines)
    for _ in range(2):
        child.start()
        _wait_until(lambda: not child.running)
        assert child.stop() == 0
    assert lines.texts == [
        f"{tmp_path / 'cache-1'} fresh fixed",
        f"{tmp_path / 'cache-2'} fresh fixed",
    ]
    assert env["OPENBELL_A"] == "fixed"  # the spec's own environment is left as it was


def test_a_fresh_env_that_cannot_be_read_is_retried_later() -> None:
    def unreadable() -> dict[str, str]:
        raise FileNotFoundError("openbell/runtime/run.py vanished during an install")

    spec = ChildSpec("day-trader", (sys.executable, "-c", "pass"), {}, fresh_env=unreadable)
    child = Child(spec, Lines())
    with pytest.raises(RetryLater, match=r"environment of child day-trader: .* during an install"):
        child.start()
    assert (child.pid, child.running) == (None, False)
