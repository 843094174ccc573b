"""Stopping ``openbell run`` leaves no process behind: SIGTERM, and the supervisor's death.

The supervisor starts each child in its own session (so a terminal Ctrl-C reaches only the
supervisor), which also means nothing but the supervisor stops them: these tests signal the
supervisor alone and then look in ``/proc`` for every process it had started.

A process counts as stopped when its ``/proc`` entry is gone (it was reaped), when the pid now
belongs to a process started at another time (reaped, then reused: each process is known by
its pid *and* its start time), or when it is a zombie whose every thread has exited. Such a
zombie runs no code and holds no memory, file or port; it only waits for its parent to
collect its exit status, so whether that parent is still alive does not matter here: a live
parent that is one of ours is checked itself. (A leader shown as ``Z`` while another of its
threads runs is a running process: its main thread alone has exited.) That the supervisor
also collected each child's exit status itself is checked from what it reports.
"""

from __future__ import annotations

import json
import os
import signal
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sim_day import FAST_RUNTIME, SimRun, resumed_run, sim_run

from openbell.adapters.sqlite.ledger import SqliteLedger

DAY = date(2016, 4, 29)
STOP_GRACE_S = float(tomllib.loads(FAST_RUNTIME)["runtime"]["stop_grace_s"])
MARGIN_S = 5.0
ORPHANED_STOP_S = 5.0
"""How soon a process must notice that its supervisor is gone (the bots check every tick)."""
CHILDREN = ("day-trader", "exit-manager", "gateway")
_EXITED = ("Z", "X")
"""``/proc`` states of a task that has exited: zombie, dead."""

# Awake from the start (wake is the sim start): the bots start with the gateway. At x60 the
# run stays in the quiet pre-market hour while the test looks at it.
CONFIG = """
[schedule]
wake = "open - 90m"

[sim]
start = "open - 90m"
warmup_s = 1
"""


@dataclass(frozen=True)
class Proc:
    """One process for certain: its pid and its start time (``/proc/<pid>/stat`` field 22)."""

    name: str
    pid: int
    started: int


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name; None if there is no entry."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name may hold spaces and parentheses: the fields follow its last ")"
    return text.rsplit(")", 1)[1].split()


def _proc(name: str, pid: int) -> Proc:
    fields = _stat(pid)
    assert fields is not None, f"{name} (pid {pid}) is not running"
    return Proc(name, pid, int(fields[19]))


def _state(proc: Proc) -> str:
    """``running``, ``zombie`` (exited, not yet reaped) or ``gone`` (reaped; or pid reused)."""
    fields = _stat(proc.pid)
    if fields is None or int(fields[19]) != proc.started:
        return "gone"
    if fields[0] not in _EXITED:
        return "running"
    return "running" if _a_thread_runs(proc.pid) else "zombie"


def _a_thread_runs(pid: int) -> bool:
    """Whether any thread of ``pid`` has not exited (its leader may have exited alone)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return False
    for task in tasks:
        try:
            text = (task / "stat").read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if text.rsplit(")", 1)[1].split()[0] not in _EXITED:
            return True
    return False


def _children_of(pid: int) -> set[int]:
    """Every process whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _running(procs: list[Proc], within_s: float) -> list[Proc]:
    """The processes still running after waiting up to ``within_s`` for all to stop."""
    deadline = time.monotonic() + within_s
    while True:
        left = [p for p in procs if _state(p) == "running"]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _supervised_pids(ledger: SqliteLedger) -> dict[str, int] | None:
    """The pid of each running child, from the supervisor's last heartbeat, once all run and
    both bots beat from those pids."""
    beats = {b.process: b for b in ledger.heartbeats()}
    supervisor = beats.get("supervisor")
    if supervisor is None or not supervisor.detail.startswith("{"):
        return None
    children = json.loads(supervisor.detail)["children"]
    if sorted(children) != sorted(CHILDREN) or not all(c["running"] for c in children.values()):
        return None
    pids = {name: int(c["pid"]) for name, c in children.items()}
    for bot in ("day-trader", "exit-manager"):
        beat = beats.get(bot)
        if beat is None or beat.pid != pids[bot] or beat.status != "running":
            return None
    return pids


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[SimRun, list[Proc]]]:
    """A sim run with the gateway and both bots up; yields it and every process it started.

    Whatever a test leaves running is killed afterwards (by pid and start time, never by name).
    """
    procs: list[Proc] = []
    try:
        with sim_run(tmp_path, DAY, CONFIG, speed=60) as run:
            found: dict[str, int] = {}

            def all_up(ledger: SqliteLedger) -> bool:
                pids = _supervised_pids(ledger)
                found.update(pids or {})
                return pids is not None

            run.wait_for("the gateway and both bots running", all_up, timeout_s=60)
            procs = [_proc(name, pid) for name, pid in found.items()]
            # nothing else was started: the supervisor's children are exactly these three
            assert _children_of(run.process.pid) == set(found.values())
            assert all(not _children_of(p.pid) for p in procs), "a child started its own"
            yield run, procs
    finally:
        for proc in _running(procs, within_s=0):
            os.kill(proc.pid, signal.SIGKILL)


def test_sigterm_stops_every_child_and_the_run_exits_0(
    started: tuple[SimRun, list[Proc]],
) -> None:
    run, procs = started
    supervisor = _proc("supervisor", run.process.pid)
    os.kill(supervisor.pid, signal.SIGTERM)  # the supervisor only, not its group
    sent = time.monotonic()
    code = run.process.wait(timeout=STOP_GRACE_S + MARGIN_S + 30)
    took_s = time.monotonic() - sent
    out = run.output()
    assert code == 0, out[-4000:]
    assert took_s < STOP_GRACE_S + MARGIN_S, f"stopping took {took_s:.1f} s"
    assert _running(procs, within_s=0) == []
    # the supervisor reaped each child itself (it reports the exit code it collected) and
    # none needed the SIGKILL after the grace period
    for proc in procs:
        assert f"{proc.name} stopped (exit code 0)" in out
    assert "ignored SIGTERM" not in out
    ledger = run.ledger()
    try:
        beats = {b.process: b for b in ledger.heartbeats()}
    finally:
        ledger.close()
    assert beats["supervisor"].status == "stopped"
    children = json.loads(beats["supervisor"].detail)["children"]
    assert not any(c["running"] for c in children.values())
    for bot in ("day-trader", "exit-manager"):
        assert (beats[bot].status, beats[bot].detail) == ("stopped", "signal SIGTERM")


def test_when_the_supervisor_is_killed_its_children_stop_by_themselves(
    started: tuple[SimRun, list[Proc]],
) -> None:
    run, procs = started
    os.kill(run.process.pid, signal.SIGKILL)
    run.process.wait(timeout=10)
    left = _running(procs, within_s=ORPHANED_STOP_S)
    assert left == [], f"still running {ORPHANED_STOP_S} s after the supervisor died: {left}"
    ledger = run.ledger()
    try:
        beats = {b.process: b for b in ledger.heartbeats()}
    finally:
        ledger.close()
    for bot in ("day-trader", "exit-manager"):
        beat = beats[bot]
        assert beat.status == "stopped"
        assert beat.detail == f"the supervisor (pid {run.process.pid}) is gone"


def test_a_run_resumed_after_its_supervisor_was_killed_goes_on_with_the_same_clock(
    started: tuple[SimRun, list[Proc]],
) -> None:
    run, procs = started
    ledger = run.ledger()
    try:
        killed_at = max(b.beat_at for b in ledger.heartbeats())
    finally:
        ledger.close()
    os.kill(run.process.pid, signal.SIGKILL)
    run.process.wait(timeout=10)
    # at once, as a service manager would: the new run waits for the orphans (the run lock)
    with resumed_run(run.workdir) as again:
        found: dict[str, int] = {}

        def all_up_again(ledger: SqliteLedger) -> bool:
            pids = _supervised_pids(ledger)
            if pids is None or set(pids.values()) & {p.pid for p in procs}:
                return False
            found.update(pids)
            return True

        again.wait_for("the resumed run's gateway and bots running", all_up_again, timeout_s=60)
        new = [_proc(name, pid) for name, pid in found.items()]
        assert _running(procs, within_s=0) == [], "the old run's processes outlived the new one"
        ledger = again.ledger()
        try:
            beats = {b.process: b for b in ledger.heartbeats()}
        finally:
            ledger.close()
        # the sim clock went on from where it was (at x60, a few sim minutes), not from 08:00
        resumed_at = beats["day-trader"].beat_at
        assert killed_at <= resumed_at < killed_at + timedelta(minutes=30)
        assert "resuming the sim run of 2016-04-29" in again.output()
        assert (run.workdir / "var" / "ledger.sqlite.run.lock").read_text().strip() == str(
            again.process.pid
        )
        # the new gateway carried on the same run: its journal has a second start of it
        starts = [r for r in again.journal if r["kind"] == "start"]
        assert len(starts) == 2 and starts[0]["run"] == starts[1]["run"]
        os.kill(again.process.pid, signal.SIGTERM)
        assert again.process.wait(timeout=STOP_GRACE_S + MARGIN_S + 30) == 0
    assert _running(new, within_s=0) == []  # the resumed supervisor stopped its own children
