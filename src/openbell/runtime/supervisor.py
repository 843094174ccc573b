"""``openbell run``: the supervisor that wakes the bots on the exchange calendar.

It runs around the clock. On a trading day it starts the day-trader and the exit-manager at
``schedule.wake`` (``open - 90m``) and stops them after ``schedule.sleep`` (``close + 5m``);
on a holiday it sleeps through. In sim mode it first starts the simulated gateway on the
loopback port it holds reserved for the run, and every process reads the same accelerated
clock.

While they run it restarts a child that died or went silent (no new heartbeat for
``runtime.silent_after_s``), with exponential backoff, and records each restart. It
compares the code each child runs with the code installed on disk and restarts a child
running older code at a safe point (never inside the MOO window or the flatten). After a
smart shutdown (every master at its target) or the kill switch it stops the day-trader once
no entry works, and the exit-manager once nothing is held.

It also checks the flatten got done, whoever should have done it: if the ledger still holds
shares ``NOT_FLAT_GRACE`` after the flatten time, and again at the close, it raises a
``NOT_FLAT`` alert (once per stage and day, kept in the ledger's day steps) naming the
positions, the exit-manager's last word and whether the gateway runs. The notifier sends it
as an error: a person can still flatten by hand before the close.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from openbell.domain.enums import OrderRole
from openbell.domain.errors import OpenbellError, RetryLater
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK
from openbell.ports import Calendar, Clock, Ledger
from openbell.runtime.bots import StopFlag, session_at
from openbell.runtime.children import Child, RestartPolicy
from openbell.runtime.version import CodeVersion, installed_code
from openbell.services.trading import SMART_SHUTDOWN
from openbell.strategy.schedule import DayPlan, DayTimeline

log = logging.getLogger(__name__)

DAY_TRADER, EXIT_MANAGER, GATEWAY = "day-trader", "exit-manager", "gateway"
NOTIFIER = "notifier"
DASHBOARD = "dashboard"
BOTS = (DAY_TRADER, EXIT_MANAGER)
_TICK_S = 0.2
_BUSY_WAIT_S = 1.0
_SAFE_MARGIN = timedelta(minutes=2)
NOT_FLAT = "NOT_FLAT"
"""The event of a flatten not done: shares still held after the flatten time or at the close."""
NOT_FLAT_GRACE = timedelta(minutes=3)
"""How long after the flatten time a held share is an alert (a flatten's market orders fill in
seconds; a restarted exit-manager flattens at once)."""


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds (see ``runtime`` settings)."""

    check_awake_s: float = 30.0
    check_asleep_s: float = 300.0
    silent_after_s: float = 120.0
    stop_grace_s: float = 10.0
    restart_initial_s: float = 1.0
    restart_max_s: float = 60.0


@dataclass
class _Tracked:
    child: Child
    policy: RestartPolicy
    restart_at: float | None = None
    """Wall time a restart is due (after a death), None when none is pending."""
    stopped_on_purpose: bool = True
    beat_seen: tuple[str, str, str] | None = None
    beat_changed_at: float = 0.0
    restarts: int = 0
    code_reported: str = ""


@dataclass
class Phase:
    """What the calendar says now."""

    awake: bool
    timeline: DayTimeline
    why: str


@dataclass
class _State:
    phase_why: str = ""
    next_check: float = 0.0
    code_warned: set[str] = field(default_factory=set)
    flat_checked: set[tuple[str, str]] = field(default_factory=set)
    """(trading day, stage) pairs whose flat check is done."""


class Supervisor:
    """Built by the composition root with every collaborator; :meth:`run` until stopped."""

    def __init__(
        self,
        clock: Clock,
        calendar: Calendar,
        ledger: Ledger,
        plan: DayPlan,
        children: Mapping[str, Child],
        timing: Timing,
        stop: StopFlag,
        *,
        until: datetime | None = None,
        say: Callable[[str], None] = print,
        wall: Callable[[], float] = time.monotonic,
        installed: Callable[[], CodeVersion] = installed_code,
    ) -> None:
        """``installed`` reads the code installed on disk now (see ``installed_code``)."""
        self._clock, self._calendar, self._ledger, self._plan = clock, calendar, ledger, plan
        self._timing, self._stop, self._until, self._say, self._wall = (
            timing,
            stop,
            until,
            say,
            wall,
        )
        self._tracked = {
            name: _Tracked(
                child,
                RestartPolicy(
                    initial_s=timing.restart_initial_s, max_s=timing.restart_max_s, now=wall
                ),
            )
            for name, child in children.items()
        }
        self._installed = installed
        self._state = _State()

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        """Supervise until stopped (or past ``until``); stop every child; return 0."""
        self._say(f"supervisor: running {self._installed()}")
        try:
            while not self._stop.is_set():
                if self._until is not None and self._clock.now() >= self._until:
                    self._say("supervisor: the last session of this run is over")
                    break
                try:
                    phase = self._phase()
                    self._follow(phase)
                    self._check_flat(phase)
                    if self._wall() >= self._state.next_check:
                        self._check(phase)
                except RetryLater as exc:  # a ledger locked for a while: the children go on
                    self._say(f"supervisor: {exc}; trying again")
                    self._stop.wait(_BUSY_WAIT_S)
                self._stop.wait(_TICK_S)
        finally:
            self._stop_all(self._stop.reason or "the run is over")
        return 0

    def _phase(self) -> Phase:
        now = self._clock.now()
        session = session_at(self._calendar, now)
        timeline = self._plan.resolve(session)
        today = now.astimezone(NEW_YORK).date()
        if not self._calendar.is_trading_day(today):
            why = f"asleep: the exchange is closed on {today}; next session {session.trading_day}"
            awake = False
        elif now < timeline.wake:
            wake = timeline.wake.astimezone(NEW_YORK)
            why, awake = f"asleep until {wake:%H:%M} ET on {session.trading_day}", False
        elif now >= timeline.sleep:
            why, awake = f"asleep: {session.trading_day} is over", False
        else:
            why, awake = f"awake for {session.trading_day}", True
        if why != self._state.phase_why:
            self._state.phase_why = why
            self._say(f"supervisor: {why}")
            self._ledger.append_event("SCHEDULE", why)
        return Phase(awake, timeline, why)

    def _wanted(self, phase: Phase) -> set[str]:
        wanted = {name for name in self._tracked if name not in BOTS}
        if not phase.awake:
            return wanted
        day = phase.timeline.session.trading_day
        controls = self._ledger.controls()
        kill = controls.get("kill_switch")
        quiet = (kill is not None and kill.enabled) or SMART_SHUTDOWN in self._ledger.day_steps(day)
        live = self._ledger.orders(live_only=True)
        entries = any(o.role is OrderRole.ENTRY for o in live)
        held = any(p.held_quantity > 0 for p in self._ledger.active_positions()) or any(
            o.role.is_exit for o in live
        )
        if not quiet or entries:
            wanted.add(DAY_TRADER)
        if not quiet or held:
            wanted.add(EXIT_MANAGER)
        return wanted

    def _follow(self, phase: Phase) -> None:
        wanted = self._wanted(phase)
        for name, tracked in self._tracked.items():
            running = tracked.child.running
            if name in wanted and not running:
                self._start_or_wait(name, tracked)
            elif name not in wanted and running:
                self._stop_child(name, tracked, "not needed now: " + phase.why)
            elif name not in wanted:
                tracked.restart_at, tracked.stopped_on_purpose = None, True

    def _start_or_wait(self, name: str, tracked: _Tracked) -> None:
        if not tracked.stopped_on_purpose and tracked.restart_at is None:
            code = tracked.child.exit_code
            delay = tracked.policy.exited()
            tracked.restart_at = self._wall() + delay
            tracked.restarts += 1
            why = f"{name} exited with code {code}; restarting in {delay:.1f} s"
            self._say(f"supervisor: {why}")
            self._record_restart(name, why, tracked)
            return
        if tracked.restart_at is not None and self._wall() < tracked.restart_at:
            return
        self._start(name, tracked)

    def _start(self, name: str, tracked: _Tracked) -> None:
        try:
            tracked.child.start()
        except OpenbellError as exc:
            self._say(f"supervisor: could not start {name}: {exc}")
            tracked.stopped_on_purpose = False
            tracked.restart_at = None  # the next tick backs off again
            return
        tracked.policy.started()
        tracked.restart_at = None
        tracked.stopped_on_purpose = False
        tracked.beat_seen, tracked.beat_changed_at = None, self._wall()
        tracked.code_reported = ""  # until the new process writes its own heartbeat
        self._say(f"supervisor: started {name} (pid {tracked.child.pid})")
        self._ledger.append_event(
            "START", f"started {name}", data={"process": name, "pid": tracked.child.pid}
        )

    def _stop_child(self, name: str, tracked: _Tracked, why: str) -> None:
        self._say(f"supervisor: stopping {name}: {why}")
        tracked.stopped_on_purpose = True
        tracked.restart_at = None
        code = tracked.child.stop(self._timing.stop_grace_s)
        self._say(f"supervisor: {name} stopped (exit code {code})")

    def _stop_all(self, why: str) -> None:
        # The bots first: the gateway serves them.
        for name in (*BOTS, NOTIFIER, DASHBOARD, GATEWAY):
            tracked = self._tracked.get(name)
            if tracked is not None and tracked.child.running:
                self._stop_child(name, tracked, why)
        self._beat("stopped", why)

    # --- the flatten ------------------------------------------------------------------------
    def _check_flat(self, phase: Phase) -> None:
        """Alert (once per stage and day) if shares are held ``NOT_FLAT_GRACE`` after the
        flatten time, or at the close."""
        if not phase.awake:
            return
        timeline = phase.timeline
        now = self._clock.now()
        if now >= timeline.session.close:
            stage, since = "close", timeline.session.close
        elif now >= timeline.flatten + NOT_FLAT_GRACE:
            stage, since = "flatten", timeline.flatten
        else:
            return
        day = timeline.session.trading_day
        if (day.isoformat(), stage) in self._state.flat_checked:
            return
        held = [p for p in self._ledger.active_positions() if p.held_quantity > 0]
        step = f"{NOT_FLAT.lower()}_{stage}"
        if held and step not in self._ledger.day_steps(day):
            self._alert_not_flat(day, stage, since, held, step)
        self._state.flat_checked.add((day.isoformat(), stage))

    def _alert_not_flat(
        self, day: date, stage: str, since: datetime, held: Sequence[Position], step: str
    ) -> None:
        shares = ", ".join(f"{p.symbol} {p.held_quantity:,} sh" for p in held)
        when = f"{since.astimezone(NEW_YORK):%H:%M} ET"
        if stage == "close":
            what = f"still held at the close ({when}), so open overnight: {shares}"
        else:
            late = int(NOT_FLAT_GRACE.total_seconds() // 60)
            what = f"still held {late} min after the flatten time ({when}): {shares}"
        why, facts = self._why_not_flat()
        message = (
            f"{what}; {why}. Flatten them in TWS, or with 'openbell liquidate --managed' once "
            "IB answers"
        )
        log.critical("NOT FLAT: %s", message)
        self._say(f"supervisor: ALERT not flat: {message}")
        data = {
            "trading_day": day.isoformat(),
            "stage": stage,
            "positions": [
                {"position_id": p.position_id, "symbol": str(p.symbol), "held": p.held_quantity}
                for p in held
            ],
            **facts,
        }
        # the alert first: a supervisor killed between the two raises it again, never not at all
        self._ledger.append_event(NOT_FLAT, message, data=data)
        self._ledger.mark_step(day, step, message[:2000])

    def _why_not_flat(self) -> tuple[str, dict[str, object]]:
        """What the exit-manager last said and whether the simulated gateway runs: in words,
        and as the facts the alert's data keeps."""
        beat = next((b for b in self._ledger.heartbeats() if b.process == EXIT_MANAGER), None)
        tracked = self._tracked.get(EXIT_MANAGER)
        running = tracked is not None and tracked.child.running
        status = beat.status if beat is not None else None
        if not running:
            said = "the exit-manager is not running"
        elif beat is None:
            said = "the exit-manager has not reported yet"
        else:
            said = f"the exit-manager says {beat.status}: {beat.detail[:200]}"
        facts: dict[str, object] = {"exit_manager": {"running": running, "status": status}}
        gateway = self._tracked.get(GATEWAY)
        if gateway is not None:
            facts["gateway_running"] = gateway.child.running
            if not gateway.child.running:
                said += "; the simulated gateway is not running"
        return said, facts

    # --- health -----------------------------------------------------------------------------
    def _check(self, phase: Phase) -> None:
        interval = self._timing.check_awake_s if phase.awake else self._timing.check_asleep_s
        self._state.next_check = self._wall() + interval
        beats = {b.process: b for b in self._ledger.heartbeats()}
        installed = self._installed_now()
        for name, tracked in self._tracked.items():
            if name not in BOTS or not tracked.child.running:
                continue
            beat = beats.get(name)
            if beat is not None and beat.pid == tracked.child.pid:  # not an earlier life's row
                seen = (beat.beat_at.isoformat(), beat.status, beat.detail)
                if seen != tracked.beat_seen:
                    tracked.beat_seen, tracked.beat_changed_at = seen, self._wall()
                tracked.code_reported = beat.code_version
            if not self._check_silence(name, tracked):
                self._check_code(name, tracked, installed, phase)
        self._beat("awake" if phase.awake else "asleep", phase.why)

    def _check_silence(self, name: str, tracked: _Tracked) -> bool:
        """Restart a child whose heartbeat stopped changing; True if it was restarted."""
        silent_for = self._wall() - tracked.beat_changed_at
        if silent_for < self._timing.silent_after_s or not tracked.child.running:
            return False
        why = f"{name} wrote no heartbeat for {silent_for:.0f} s: restarting it"
        self._say(f"supervisor: {why}")
        tracked.restarts += 1
        self._record_restart(name, why, tracked)
        tracked.child.stop(self._timing.stop_grace_s)
        tracked.stopped_on_purpose = True  # restart at once, as a fresh start
        self._start(name, tracked)
        return True

    def _installed_now(self) -> str:
        """The installed code; "" while it cannot be read (an install moving files)."""
        try:
            return str(self._installed())
        except OSError as exc:
            log.warning("cannot read the installed code (%s): comparing at the next check", exc)
            return ""

    def _check_code(self, name: str, tracked: _Tracked, installed: str, phase: Phase) -> None:
        running = tracked.code_reported
        if not running or not installed or running == installed:
            return
        key = f"{name}:{running}->{installed}"
        if key not in self._state.code_warned:
            self._state.code_warned.add(key)
            why = f"{name} runs code {running} but the installed code is now {installed}"
            self._say(f"supervisor: WARNING {why}")
            log.warning(why)
            self._ledger.append_event(
                "CODE_CHANGED",
                why,
                data={"process": name, "running": running, "installed": installed},
            )
        if not _safe_point(self._clock.now(), phase.timeline):
            return
        why = f"restarting {name} to run the installed code {installed}"
        self._say(f"supervisor: {why}")
        tracked.restarts += 1
        self._record_restart(name, why, tracked, installed)
        self._stop_child(name, tracked, why)
        self._start(name, tracked)

    def _record_restart(self, name: str, why: str, tracked: _Tracked, installed: str = "") -> None:
        data: dict[str, object] = {"process": name, "restarts": tracked.restarts}
        if installed:
            data["installed"] = installed
        self._ledger.append_event("RESTART", why, data=data)

    def _beat(self, status: str, detail: str) -> None:
        children = {
            name: {
                "pid": t.child.pid,
                "running": t.child.running,
                "restarts": t.restarts,
                "code": t.code_reported,
            }
            for name, t in self._tracked.items()
        }
        self._ledger.beat(status, json.dumps({"phase": detail, "children": children}))


def _safe_point(now: datetime, timeline: DayTimeline) -> bool:
    """Not between the MOO submission and just after the open, nor during the flatten."""
    moo = timeline.moo_submit - _SAFE_MARGIN <= now <= timeline.session.open + _SAFE_MARGIN
    flatten = timeline.flatten - _SAFE_MARGIN <= now <= timeline.session.close
    return not (moo or flatten)
