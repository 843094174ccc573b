"""Compose ``openbell run``: the supervisor, its children, their output and the shared clock.

In sim mode the supervisor reserves a loopback port for the simulated gateway for the whole run
(:mod:`openbell.runtime.reserved_port`), anchors one
accelerated clock (``OPENBELL_SIM_ANCHOR``) that the gateway and both bots read, and points
the bots at the gateway's simulated paper account. The clock runs at ``sim.speed`` while the
bots are awake (each session's wake to its sleep) and at ``sim.asleep_speed`` in between, so
nights, weekends and holidays pass quickly. In paper and live mode the bots connect to the
IB Gateway or TWS the settings name, on the wall clock.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

from openbell.adapters.clock import (
    SIM_ANCHOR_ENV,
    SimAnchor,
    SimClock,
    SpeedChange,
    SystemClock,
    utc_now,
)
from openbell.adapters.redact import RedactSecrets
from openbell.config import LoadedSettings, Settings
from openbell.domain.errors import ConfigError, InvalidValue, RefusedInput
from openbell.domain.sessions import NEW_YORK, Session
from openbell.ports import Calendar, Clock
from openbell.runtime import compose
from openbell.runtime.bots import SUPERVISOR_PID_ENV, StopFlag
from openbell.runtime.children import Child, ChildSpec, DailyJsonLogs, parse_line, prefix
from openbell.runtime.guard import Mode, check_mode
from openbell.runtime.logs import secret_values
from openbell.runtime.notifier import check_notification_urls
from openbell.runtime.reserved_port import LOOPBACK, PortReservation
from openbell.runtime.runlock import RunLock, acquire_run_lock
from openbell.runtime.scanning import check_scan_source
from openbell.runtime.supervisor import (
    DASHBOARD,
    DAY_TRADER,
    EXIT_MANAGER,
    GATEWAY,
    NOTIFIER,
    Supervisor,
    Timing,
)
from openbell.runtime.version import bytecode_dir, installed_code
from openbell.strategy.schedule import DayTimeline

SIM_RUN_FILE = "sim-run.json"
"""In the logs directory: the clock of the last sim run, which ``--resume`` continues."""
SPEED_PLAN_SESSIONS = 30
"""Sim: without ``--days``, the sessions whose wake and sleep the clock's speed follows."""
MAX_SPEED_PLAN_SESSIONS = 260
"""Sim: at most this many sessions (about a year) of speed changes go into the anchor, so
``OPENBELL_SIM_ANCHOR`` stays under 20 kB however large ``--days`` is. After the last planned
session's wake the clock keeps the awake speed (see :func:`sim_speed_plan`)."""


@dataclass(frozen=True)
class RunOptions:
    mode: Mode
    config_file: Path | None = None
    day: date | None = None
    """Sim: the first session to replay (default: the next session by the wall clock). A day
    the exchange is closed starts the clock at its 00:00 New York time, asleep; the first
    session is then the next one."""
    days: int | None = None
    """Stop after this many sessions (default: run until stopped)."""
    speed: float | None = None
    """Sim: the clock's speed while the bots are awake (default ``sim.speed``)."""
    live: bool = False
    typed_account: str = ""
    resume: bool = False
    """Sim: continue the run recorded in the logs directory (``sim-run.json``) on its own
    clock, after its supervisor was killed: the gateway rebuilds its account from its
    journal and the bots reconcile with the ledger."""


@dataclass(frozen=True)
class RunPlan:
    clock: Clock
    env: Mapping[str, str]
    first: Session
    until: datetime | None
    gateway_argv: tuple[str, ...] | None
    """Sim: the gateway's command line, without its port (see :meth:`serving`)."""
    days: int | None = None
    anchor: SimAnchor | None = None

    def serving(self, port: int) -> RunPlan:
        """This sim plan with the gateway listening on ``port``, which the supervisor holds
        reserved for the whole run, and the bots connecting to it."""
        assert self.gateway_argv is not None  # sim plans only
        env = {**self.env, "OPENBELL__BROKER__HOST": LOOPBACK, "OPENBELL__BROKER__PORT": str(port)}
        argv = (*self.gateway_argv, "--port", str(port), "--reserved-port")
        return replace(self, env=env, gateway_argv=argv)


def bytecode_root() -> Path:
    """Where the children's bytecode caches live: the user's cache directory
    (``$XDG_CACHE_HOME``, else ``~/.cache``), so each code version compiles once per machine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).resolve() / "openbell" / "pycache"


def bytecode_env() -> dict[str, str]:
    """The ``PYTHONPYCACHEPREFIX`` of a child starting now: the bytecode cache of the code
    installed now. Read at every start, so a child restarted to run new code never compiles
    into (or loads from) the cache of the code it replaces."""
    return {"PYTHONPYCACHEPREFIX": str(bytecode_dir(bytecode_root(), installed_code()))}


def plan_run(settings: Settings, options: RunOptions, calendar: Calendar) -> RunPlan:
    """The clock, the children's environment, and when the run ends."""
    if options.resume and options.mode != "sim":
        raise RefusedInput(
            "--resume continues a sim run on its own clock; in paper and live mode start "
            "'openbell run' again (it follows the wall clock and the ledger)"
        )
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
    check_scan_source(settings, options.mode)
    check_notification_urls(settings)
    # The children keep bytecode in a cache of their own (``bytecode_env``); they may write
    # it even where the user's shell disables bytecode, or every start compiles everything.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({SUPERVISOR_PID_ENV: str(os.getpid()), "PYTHONUNBUFFERED": "1"})
    env["OPENBELL__BROKER__MODE"] = options.mode
    if options.mode != "sim":
        clock: Clock = SystemClock()
        first = calendar.upcoming_session(clock.now())
        until = _until(settings, calendar, first, options.days)
        return RunPlan(clock, env, first, until, None, options.days)
    sim = settings.sim
    days = options.days
    if options.resume:
        first, anchor, days = _resumed(settings, options, calendar)
    else:
        first, anchor = _sim_anchor(settings, options, calendar)
    env.update({SIM_ANCHOR_ENV: anchor.encode(), "OPENBELL__BROKER__ACCOUNT": sim.account})
    gateway = [sys.executable, "-m", "openbell", "gateway"]
    gateway += ["--data", sim.data, "--account", sim.account, "--cash", str(sim.cash)]
    for holding in sim.holdings:
        gateway += ["--hold", holding]
    gateway += ["--journal", str(settings.logging.directory / "gateway-journal.jsonl")]
    for fault in sim.faults:
        gateway += ["--fault", fault]
    until = _until(settings, calendar, first, days)
    return RunPlan(SimClock(anchor), env, first, until, tuple(gateway), days, anchor)


def sim_run_file(settings: Settings) -> Path:
    """Where a sim run records its clock, for ``openbell run --mode sim --resume``."""
    return settings.logging.directory / SIM_RUN_FILE


def record_sim_run(settings: Settings, plan: RunPlan) -> Path:
    """Write the run's clock, first session and length (owner-only, replaced atomically)."""
    assert plan.anchor is not None  # sim plans always have one
    path = sim_run_file(settings)
    record = {
        "anchor": plan.anchor.encode(),
        "first": plan.first.trading_day.isoformat(),
        "days": plan.days,
        "supervisor_pid": os.getpid(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(json.dumps(record, indent=2) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    return path


def _resumed(
    settings: Settings, options: RunOptions, calendar: Calendar
) -> tuple[Session, SimAnchor, int | None]:
    """The first session, clock and length of the recorded sim run ``--resume`` continues."""
    chosen = (("--day", options.day), ("--days", options.days), ("--speed", options.speed))
    given = [name for name, value in chosen if value is not None]
    if given:
        raise RefusedInput(
            f"--resume continues the recorded run with its own day, length and clock; "
            f"leave out {', '.join(given)}"
        )
    path = sim_run_file(settings)
    expected = 'a JSON object {"anchor": ..., "first": "YYYY-MM-DD", "days": N or null}'
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidValue(
            f"--resume: {path}", "the record a sim run writes when it starts", "no such file"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidValue(f"--resume: {path}", expected, _failure(exc)) from None
    try:
        anchor = SimAnchor.decode(record["anchor"])
        first = calendar.session(date.fromisoformat(record["first"]))
        days = record["days"]
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise ValueError(f"days {days!r}")
    except (KeyError, TypeError, ValueError, RefusedInput) as exc:
        raise InvalidValue(f"--resume: {path}", expected, _failure(exc)) from None
    return first, anchor, days


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _until(
    settings: Settings, calendar: Calendar, first: Session, days: int | None
) -> datetime | None:
    if days is None:
        return None
    last = _sessions(calendar, first, days)[-1]
    return settings.day_plan().resolve(last).sleep + timedelta(seconds=30)


def _sessions(calendar: Calendar, first: Session, count: int) -> list[Session]:
    """``first`` and the sessions after it, ``count`` in all."""
    sessions = [first]
    while len(sessions) < count:
        sessions.append(calendar.next_session(sessions[-1].trading_day))
    return sessions


def _sim_anchor(
    settings: Settings, options: RunOptions, calendar: Calendar
) -> tuple[Session, SimAnchor]:
    """The first session of a sim run and the clock every process shares."""
    first, sim_start = _sim_start(settings, calendar, options.day)
    planned = options.days if options.days is not None else SPEED_PLAN_SESSIONS
    sessions = _sessions(calendar, first, min(planned, MAX_SPEED_PLAN_SESSIONS))
    timelines = [settings.day_plan().resolve(session) for session in sessions]
    speed, changes = sim_speed_plan(
        timelines,
        sim_start,
        awake_speed=options.speed or settings.sim.speed,
        asleep_speed=settings.sim.asleep_speed,
        slow=_slow_windows(settings, timelines),
        slow_speed=settings.sim.slow_speed,
    )
    # The clock stands at ``sim_start`` through the warm-up and runs only after it, so the
    # gateway is listening by then even on a busy machine (at x600 one wall second is ten sim
    # minutes, at x10 000 almost three hours).
    anchor = SimAnchor(
        sim_start=sim_start,
        wall_start=utc_now() + timedelta(seconds=settings.sim.warmup_s),
        speed=speed,
        changes=changes,
    )
    return first, anchor


def _sim_start(
    settings: Settings, calendar: Calendar, day: date | None
) -> tuple[Session, datetime]:
    """The first session of a sim run and the sim instant its clock starts at."""
    if day is None:
        first = calendar.upcoming_session(utc_now())
    elif calendar.is_trading_day(day):
        first = calendar.session(day)
    else:  # a holiday or a weekend: sleep through the rest of it, fast
        return calendar.next_session(day), datetime.combine(day, time(0), NEW_YORK)
    return first, settings.sim.start.resolve(first)


def _slow_windows(
    settings: Settings, timelines: Sequence[DayTimeline]
) -> list[tuple[datetime, datetime]]:
    """Each session's ``sim.slow_from`` to its close, or none; refuse a ``slow_from`` that is
    not between the wake and the close (it would slow nothing, or the night)."""
    slow_from = settings.sim.slow_from
    if slow_from is None:
        return []
    windows = []
    for timeline in timelines:
        start, close = slow_from.resolve(timeline.session), timeline.session.close
        if not timeline.wake <= start < close:
            raise ConfigError(
                [
                    (
                        "sim.slow_from",
                        f"a time from the wake ({_hhmm(timeline.wake)} ET) to before the close "
                        f"({_hhmm(close)} ET) on {timeline.session.trading_day}",
                        f"{slow_from} ({_hhmm(start)} ET)",
                    )
                ]
            )
        windows.append((start, close))
    return windows


def _hhmm(at: datetime) -> str:
    return at.astimezone(NEW_YORK).strftime("%H:%M")


def sim_speed_plan(
    timelines: Sequence[DayTimeline],
    sim_start: datetime,
    *,
    awake_speed: float,
    asleep_speed: float,
    slow: Sequence[tuple[datetime, datetime]] = (),
    slow_speed: float = 60.0,
) -> tuple[float, tuple[SpeedChange, ...]]:
    """The sim clock's speed at ``sim_start`` and its later changes: ``awake_speed`` from
    each timeline's wake to its sleep, ``asleep_speed`` in between (and before the first wake),
    and ``slow_speed`` inside each ``slow`` window (each within its day's wake and sleep).

    From the last timeline's wake on the clock keeps ``awake_speed`` (a run that outlives the
    plan goes on at the pace it trades at, never faster). Overlapping wake-to-sleep windows
    merge; a change that would not change the speed is left out.

    A slow window near the close keeps wall-clock delays the size they would be for real: at
    x600 a bot's restart of three wall seconds costs half an hour of trading and may miss the
    flatten, which no real restart does; at x60 it costs three minutes.
    """
    windows: list[tuple[datetime, datetime]] = []
    for timeline in timelines:
        if windows and timeline.wake <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], timeline.sleep))
        else:
            windows.append((timeline.wake, timeline.sleep))
    marks = [(wake, awake_speed) for wake, _ in windows]
    marks += [(sleep, asleep_speed) for _, sleep in windows[:-1]]
    for start, end in slow:  # after the wake's mark at the same instant, so it wins
        marks += [(start, slow_speed), (end, awake_speed)]
    speed: float = asleep_speed
    changes: list[SpeedChange] = []
    for at, new_speed in sorted(marks, key=lambda mark: mark[0]):
        if at <= sim_start:
            speed = new_speed  # already in force when the clock starts
        elif new_speed != (changes[-1].speed if changes else speed):
            changes.append(SpeedChange(at, new_speed))
    return speed, tuple(changes)


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


def supervise(loaded: LoadedSettings, options: RunOptions, write: Callable[[str], None]) -> RunPlan:
    """Run the supervisor until stopped or until the run's sessions are over; return its plan
    (the first session it covered, and how many)."""
    settings = loaded.settings
    calendar = compose.build_calendar()
    plan = plan_run(settings, options, calendar)
    redact = RedactSecrets(secret_values(settings)).redact
    logs = DailyJsonLogs(settings.logging.directory, redact)
    terminal = Terminal(logs, plan.clock, write)
    try:
        lock = acquire_run_lock(settings.ledger.path, terminal.say)
    except BaseException:
        logs.close()
        raise
    reservation: PortReservation | None = None
    try:
        if plan.gateway_argv is not None:  # the lock is ours: no earlier life holds the port
            reservation = PortReservation()
            plan = plan.serving(reservation.port)
        if plan.anchor is not None and options.resume:
            now = plan.clock.now().astimezone(NEW_YORK)
            terminal.say(
                f"supervisor: resuming the sim run of {plan.first.trading_day} at {now:%c} ET"
            )
        elif plan.anchor is not None:
            record_sim_run(settings, plan)
        _supervise(settings, options.config_file, calendar, plan, terminal, lock)
    finally:
        if reservation is not None:
            reservation.close()
        lock.release()
        logs.close()
    return plan


def _supervise(
    settings: Settings,
    config_file: Path | None,
    calendar: Calendar,
    plan: RunPlan,
    terminal: Terminal,
    lock: RunLock,
) -> None:
    """The supervisor and its children, each child holding the run lock while it lives."""
    ledger = compose.open_ledger(settings, plan.clock, process="supervisor")
    config = ("--config", str(config_file)) if config_file else ()
    specs = {
        DAY_TRADER: (sys.executable, "-m", "openbell", "day-trader", *config),
        EXIT_MANAGER: (sys.executable, "-m", "openbell", "exit-manager", *config),
    }
    if settings.notifications.urls:  # it runs the whole run, like the gateway
        specs[NOTIFIER] = (sys.executable, "-m", "openbell", "notifier", *config)
    if settings.dashboard.start_with_run:  # it also runs the whole run, like the gateway
        specs[DASHBOARD] = (sys.executable, "-m", "openbell", "dashboard", *config)
    if plan.gateway_argv is not None:
        specs = {GATEWAY: (*plan.gateway_argv, *config), **specs}
    children = {
        name: Child(
            ChildSpec(
                name, argv, plan.env, Path.cwd(), fresh_env=bytecode_env, pass_fds=(lock.fd,)
            ),
            terminal.child_line,
        )
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
    finally:
        ledger.close()
