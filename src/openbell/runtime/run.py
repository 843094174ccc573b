"""Compose ``openbell run``: the supervisor, its children, their output and the shared clock.

In sim mode the supervisor picks a free loopback port for the simulated gateway, anchors one
accelerated clock (``OPENBELL_SIM_ANCHOR``) that the gateway and both bots read, and points
the bots at the gateway's simulated paper account. In paper and live mode the bots connect
to the IB Gateway or TWS the settings name, on the wall clock.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from openbell.adapters.clock import SIM_ANCHOR_ENV, SimAnchor, SimClock, SystemClock, utc_now
from openbell.config import LoadedSettings, Settings
from openbell.domain.sessions import NEW_YORK, Session
from openbell.ports import Calendar, Clock
from openbell.runtime import compose
from openbell.runtime.bots import SUPERVISOR_PID_ENV, StopFlag
from openbell.runtime.children import Child, ChildSpec, DailyJsonLogs, parse_line, prefix
from openbell.runtime.guard import Mode, check_mode
from openbell.runtime.logs import RedactSecrets, secret_values
from openbell.runtime.supervisor import DAY_TRADER, EXIT_MANAGER, GATEWAY, Supervisor, Timing
from openbell.runtime.version import bytecode_dir, installed_code


@dataclass(frozen=True)
class RunOptions:
    mode: Mode
    config_file: Path | None = None
    day: date | None = None
    """Sim: the first session to replay (default: the next session by the wall clock)."""
    days: int | None = None
    """Stop after this many sessions (default: run until stopped)."""
    speed: float | None = None
    live: bool = False
    typed_account: str = ""


@dataclass(frozen=True)
class RunPlan:
    clock: Clock
    env: Mapping[str, str]
    first: Session
    until: datetime | None
    gateway_argv: tuple[str, ...] | None


def free_port() -> int:
    """A loopback port nobody listens on now (the gateway keeps it across restarts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plan_run(settings: Settings, options: RunOptions, calendar: Calendar) -> RunPlan:
    """The clock, the children's environment, and when the run ends."""
    broker = settings.broker
    account = broker.account.get_secret_value() if broker.account is not None else ""
    check_mode(
        options.mode,
        broker.port,
        account,
        live_flag=options.live,
        typed_account=options.typed_account,
        live_opt_in=broker.live_opt_in,
    )
    env = dict(os.environ)
    env.update({SUPERVISOR_PID_ENV: str(os.getpid()), "PYTHONUNBUFFERED": "1"})
    env["PYTHONPYCACHEPREFIX"] = str(bytecode_dir(Path("var").resolve(), installed_code()))
    env["OPENBELL__BROKER__MODE"] = options.mode
    if options.mode != "sim":
        clock: Clock = SystemClock()
        first = calendar.upcoming_session(clock.now())
        return RunPlan(clock, env, first, _until(settings, calendar, first, options.days), None)
    sim = settings.sim
    first = calendar.session(options.day) if options.day else calendar.upcoming_session(utc_now())
    # The clock reaches ``sim.start`` only after the warm-up, so the gateway is listening by
    # then even on a busy machine (at x600 one wall second is ten sim minutes).
    anchor = SimAnchor(
        sim_start=sim.start.resolve(first),
        wall_start=utc_now() + timedelta(seconds=sim.warmup_s),
        speed=options.speed or sim.speed,
    )
    port = free_port()
    env.update(
        {
            SIM_ANCHOR_ENV: anchor.encode(),
            "OPENBELL__BROKER__HOST": "127.0.0.1",
            "OPENBELL__BROKER__PORT": str(port),
            "OPENBELL__BROKER__ACCOUNT": sim.account,
        }
    )
    gateway = [sys.executable, "-m", "openbell", "gateway", "--port", str(port)]
    gateway += ["--data", sim.data, "--account", sim.account, "--cash", str(sim.cash)]
    for holding in sim.holdings:
        gateway += ["--hold", holding]
    gateway += ["--journal", str(settings.logging.directory / "gateway-journal.jsonl")]
    until = _until(settings, calendar, first, options.days)
    return RunPlan(SimClock(anchor), env, first, until, tuple(gateway))


def _until(
    settings: Settings, calendar: Calendar, first: Session, days: int | None
) -> datetime | None:
    if days is None:
        return None
    session = first
    for _ in range(days - 1):
        session = calendar.next_session(session.trading_day)
    return settings.day_plan().resolve(session).sleep + timedelta(seconds=30)


class Terminal:
    """The live view: every line prefixed by its process; each also filed as JSON."""

    def __init__(self, logs: DailyJsonLogs, clock: Clock, write: Callable[[str], None]) -> None:
        self._logs, self._clock, self._write = logs, clock, write
        self._lock = threading.Lock()

    def child_line(self, name: str, line: str) -> None:
        now = self._clock.now().astimezone(NEW_YORK)
        _, record = parse_line(name, line, utc_now().astimezone(NEW_YORK))
        record["clock_at"] = now.isoformat(timespec="seconds")
        self._logs.write(name, now.date(), record)
        level = "" if record.get("level") == "OUTPUT" else f"{record.get('level')} "
        text = f"{now:%H:%M:%S} {level}{record.get('message')}"
        if record.get("exception"):
            text += f"\n{record['exception']}"
        self._show(prefix(name, text))

    def say(self, text: str) -> None:
        now = self._clock.now().astimezone(NEW_YORK)
        message = text.removeprefix("supervisor: ")
        record = {"at": utc_now().isoformat(timespec="milliseconds"), "level": "INFO"}
        record |= {"process": "supervisor", "message": message, "clock_at": now.isoformat()}
        self._logs.write("supervisor", now.date(), record)
        self._show(prefix("supervisor", f"{now:%H:%M:%S} {message}"))

    def _show(self, text: str) -> None:
        with self._lock:
            self._write(text)


def supervise(loaded: LoadedSettings, options: RunOptions, write: Callable[[str], None]) -> Session:
    """Run the supervisor until stopped or until ``options.days`` sessions are over; return
    the first session it covered."""
    settings = loaded.settings
    calendar = compose.build_calendar()
    plan = plan_run(settings, options, calendar)
    redact = RedactSecrets(secret_values(settings)).redact
    logs = DailyJsonLogs(settings.logging.directory, redact)
    terminal = Terminal(logs, plan.clock, write)
    ledger = compose.open_ledger(settings, plan.clock, process="supervisor")
    config = ("--config", str(options.config_file)) if options.config_file else ()
    specs = {
        DAY_TRADER: (sys.executable, "-m", "openbell", "day-trader", *config),
        EXIT_MANAGER: (sys.executable, "-m", "openbell", "exit-manager", *config),
    }
    if plan.gateway_argv is not None:
        specs = {GATEWAY: (*plan.gateway_argv, *config), **specs}
    children = {
        name: Child(ChildSpec(name, argv, plan.env, Path.cwd()), terminal.child_line)
        for name, argv in specs.items()
    }
    stop = StopFlag()
    stop.install()
    runtime = settings.runtime
    timing = Timing(
        check_awake_s=runtime.check_awake_s,
        check_asleep_s=runtime.check_asleep_s,
        silent_after_s=runtime.silent_after_s,
        stop_grace_s=runtime.stop_grace_s,
        restart_initial_s=runtime.restart_initial_s,
        restart_max_s=runtime.restart_max_s,
    )
    supervisor = Supervisor(
        plan.clock,
        calendar,
        ledger,
        settings.day_plan(),
        children,
        timing,
        stop,
        until=plan.until,
        say=terminal.say,
    )
    try:
        supervisor.run()
        return plan.first
    finally:
        ledger.close()
        logs.close()
