"""New code installed under a running ``openbell run``: reported, and the bots restart on it.

The run imports a copy of the ``openbell`` package (``PYTHONPATH``), so the test can change
the installed sources without touching the working tree. After the open + 2 min (a safe
point) a comment is appended to one module of the copy: the supervisor must log
``CODE_CHANGED`` for both bots and restart them; the new processes must report the new code
and start with the bytecode cache of the new sources (``PYTHONPYCACHEPREFIX``, read from
``/proc/<pid>/environ``), while the day stays valid. The gateway is not restarted: the
supervisor compares only the bots' code.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from demo_day import CONFIG, DAY, FLATTEN, OPEN
from sim_day import (
    check_against_the_gateway,
    sim_run,
)

from openbell import __version__
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.records import Heartbeat
from openbell.runtime.version import package_dir, source_hash

SAFE_AFTER = OPEN + timedelta(minutes=2)
"""The supervisor restarts no bot from the MOO submission to the open + 2 min."""
BOTS = ("day-trader", "exit-manager")


def _install_copy(root: Path) -> Path:
    """Copy the ``openbell`` package under ``root``; return the copy's package folder."""
    package = root / "openbell"
    shutil.copytree(package_dir(), package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def _change(package: Path, note: str) -> str:
    """Append a comment to one module of ``package``; return the new source hash."""
    with (package / "__init__.py").open("a", encoding="utf-8") as module:
        module.write(f"# {note}\n")
    return source_hash(package)


def _bots_beating(ledger: SqliteLedger, source: str, after: datetime) -> dict[str, Heartbeat]:
    """Each bot's heartbeat if both run the code with hash ``source`` and beat after ``after``
    (in sim time: a bot stamps its heartbeat with the shared clock); else empty."""
    beats = {b.process: b for b in ledger.heartbeats() if b.process in BOTS}
    if sorted(beats) != sorted(BOTS):
        return {}
    ok = all(
        b.code_version.endswith(f"+src{source}") and b.status == "running" and b.beat_at >= after
        for b in beats.values()
    )
    return beats if ok else {}


def _environment(pid: int) -> dict[str, str]:
    """The environment process ``pid`` was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def test_changed_code_is_reported_and_the_bots_restart_on_it_at_a_safe_point(
    tmp_path: Path,
) -> None:
    package = _install_copy(tmp_path / "code")
    # the copy's own hash: only a process that imports the copy reports it
    first = _change(package, "the copy under test")
    assert first != source_hash(package_dir())
    workdir = tmp_path / "run"
    workdir.mkdir()
    pythonpath = os.pathsep.join(filter(None, [str(package.parent), os.getenv("PYTHONPATH")]))
    with sim_run(
        workdir,
        DAY,
        CONFIG,
        extra_env={"PYTHONPATH": pythonpath, "XDG_CACHE_HOME": str(workdir / "cache")},
    ) as run:
        old: dict[str, Heartbeat] = {}

        def on_first_code_past_the_open(ledger: SqliteLedger) -> bool:
            old.update(_bots_beating(ledger, first, SAFE_AFTER + timedelta(minutes=3)))
            return bool(old)

        run.wait_for("both bots past the open on the copy's code", on_first_code_past_the_open)
        second = _change(package, "a change while the bots run")
        new: dict[str, Heartbeat] = {}

        def on_second_code(ledger: SqliteLedger) -> bool:
            new.update(_bots_beating(ledger, second, SAFE_AFTER))
            return bool(new)

        run.wait_for("both bots restarted on the new code", on_second_code, timeout_s=60)
        bytecode = {name: _environment(b.pid).get("PYTHONPYCACHEPREFIX") for name, b in new.items()}
        out = run.finish()
    cache = (workdir / "cache").resolve() / "openbell" / "pycache"
    assert bytecode == dict.fromkeys(BOTS, str(cache / second))
    assert all(new[name].pid != old[name].pid for name in BOTS)
    ledger = run.ledger()
    try:
        events = ledger.events(limit=10_000)
    finally:
        ledger.close()
    changed = [e for e in events if e.kind == "CODE_CHANGED"]
    assert sorted(e.data["process"] for e in changed) == sorted(BOTS)
    for event in changed:
        assert f"src{first} but the installed code is now" in event.message
        assert event.message.endswith(f"src{second}")
    restarts = [e for e in events if e.kind == "RESTART"]
    assert sorted(e.data["process"] for e in restarts) == sorted(BOTS)  # and nothing else
    assert all("to run the installed code" in e.message for e in restarts)
    assert all(SAFE_AFTER <= e.at < FLATTEN - timedelta(minutes=2) for e in restarts)
    # the terminal: the supervisor ran the copy, then warned and restarted each bot
    assert f"running {__version__}+src{first}" in out
    for bot in BOTS:
        assert f"WARNING {bot} runs code {__version__}+src{first}" in out
        assert f"restarting {bot} to run the installed code {__version__}+src{second}" in out
    check_against_the_gateway(run, (DAY,))
