"""How each process fared on a trading day, from the ledger: the brief's ``monitor_status.py``.

Per process (the supervisor, the day-trader, the exit-manager, and the simulated gateway when
the supervisor started one): its last heartbeat, the code versions seen that day, how often it
was started and restarted and why, its errors and its reconnects; and a timeline of the day.

What counts, and where it comes from:

* **restarts**: ``RESTART`` events (the supervisor writes one per restart, with the reason as
  the message and the child in ``data["process"]``); **starts**: ``START`` events likewise.
* **code versions**: the process's heartbeat (if it beat that day), a ``code_version``,
  ``running`` or ``installed`` key in a lifecycle event's data, and, because the supervisor
  puts no version in its events' data, the versions named in its ``CODE_CHANGED`` and
  code-change ``RESTART`` messages.
* **errors**: events of the kinds in :data:`ERROR_KINDS`, written by (or about) the process,
  and the process's own orders of the day that ended REJECTED.
* **reconnects** and **disconnects**: ``RECONNECTED`` and ``DISCONNECTED`` events. Nothing
  writes them yet: the IB adapter counts reconnects in memory, and the bot loop's
  ``reconnecting`` status lives only in its single heartbeat row, overwritten at the next
  beat. Until a bot records them, only a process reconnecting *now* shows (its status).

A day is its New York calendar date: the supervisor runs around the clock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from openbell.domain.enums import OrderStatus
from openbell.domain.errors import NotATradingDay
from openbell.domain.records import Heartbeat, LedgerEvent, OrderRecord
from openbell.domain.sessions import NEW_YORK, Session
from openbell.ports import Calendar, Ledger
from openbell.reports.common import iter_events, ny_date

SUPERVISOR, DAY_TRADER, EXIT_MANAGER, GATEWAY = (
    "supervisor",
    "day-trader",
    "exit-manager",
    "gateway",
)
_ALWAYS = (SUPERVISOR, DAY_TRADER, EXIT_MANAGER)

LIFECYCLE_KINDS = frozenset({"START", "RESTART", "CODE_CHANGED"})
"""Written by the supervisor *about* a child, named in ``data["process"]``."""
ERROR_KINDS = frozenset({"HALTED", "SCAN_FAILED", "REFUSED", "UNPROTECTED", "FOREIGN", "NOT_FLAT"})
"""A bot stopped acting, a scan failed, the ledger refused a command, a held position was left
without exits, the broker reported an order openbell never placed, or shares were still held
after the flatten."""
CONNECTION_KINDS = frozenset({"DISCONNECTED", "RECONNECTED"})
TIMELINE_KINDS = (
    LIFECYCLE_KINDS
    | ERROR_KINDS
    | CONNECTION_KINDS
    | frozenset({"SCHEDULE", "RECONCILE", "CONTROL", "STEP", "REQUESTED"})
)
"""The events the timeline shows; orders, fills and scores have their own reports."""
_LINK_STATUSES = frozenset({"connecting", "reconnecting"})

NOT_RECORDED = (
    "heartbeats: the ledger keeps only each process's last beat, so statuses between beats "
    "are known only through the events above",
)
"""What the ledger cannot tell about a day's health: print it under the report."""

HEALTH_COLUMNS = ("process", "status", "restarts", "code_version", "last_beat", "detail")
PROCESS_COLUMNS = (
    "process",
    "status",
    "last_beat",
    "code_versions",
    "starts",
    "restarts",
    "restart_reasons",
    "errors",
    "error_kinds",
    "reconnects",
    "disconnects",
)
TIMELINE_COLUMNS = ("time", "phase", "process", "kind", "message")

_VERSION_KEYS = ("code_version", "running", "installed")
# The supervisor's own words (runtime/supervisor.py): the only place it names versions.
_VERSION_PATTERNS = (
    re.compile(r"runs code (\S+) but the installed code is now (\S+)"),
    re.compile(r"to run the installed code (\S+)"),
)


@dataclass(frozen=True, slots=True)
class ProcessHealth:
    """One process's day. ``errors`` and ``restart_reasons`` are in the order they happened."""

    process: str
    heartbeat: Heartbeat | None
    code_versions: tuple[str, ...]
    starts: int
    restart_reasons: tuple[str, ...]
    errors: tuple[str, ...]
    error_kinds: Mapping[str, int]
    reconnects: int
    disconnects: int

    @property
    def restarts(self) -> int:
        return len(self.restart_reasons)

    @property
    def status(self) -> str:
        return "no heartbeat" if self.heartbeat is None else self.heartbeat.status


@dataclass(frozen=True)
class HealthReport:
    trading_day: date
    processes: list[ProcessHealth]
    timeline: list[dict[str, str]]

    def rows(self) -> list[dict[str, str]]:
        """One row per process, keyed by :data:`PROCESS_COLUMNS`."""
        return [_process_row(p) for p in self.processes]

    def summary(self) -> str:
        restarts = sum(p.restarts for p in self.processes)
        errors = sum(len(p.errors) for p in self.processes)
        reconnects = sum(p.reconnects for p in self.processes)
        who = ", ".join(f"{p.process} {p.restarts}" for p in self.processes if p.restarts)
        versions = {v for p in self.processes for v in p.code_versions}
        return (
            f"{self.trading_day}: {restarts} restarts"
            + (f" ({who})" if who else "")
            + f", {errors} errors, {reconnects} reconnects recorded, "
            f"{len(versions)} code versions seen"
        )


def health_report(ledger: Ledger, day: date, calendar: Calendar) -> HealthReport:
    """Every process's health on ``day`` (New York date), and the day's timeline."""
    events = events_of_day(ledger, day)
    beats = {b.process: b for b in ledger.heartbeats()}
    rejected = _rejected_orders(ledger, day)
    names = _process_names(events, beats, day)
    processes = [
        _process_health(
            name,
            [e for e in events if subject(e) == name],
            beats.get(name),
            day,
            rejected.get(name, []),
        )
        for name in names
    ]
    session = _session(calendar, day)
    timeline = [_timeline_row(e, session) for e in events if e.kind in TIMELINE_KINDS]
    return HealthReport(day, processes, timeline)


def subject(event: LedgerEvent) -> str:
    """The process an event is about: the child named by a supervisor's lifecycle event,
    else the process that wrote it."""
    if event.kind in LIFECYCLE_KINDS and "process" in event.data:
        return str(event.data["process"])
    return event.process


def all_events(ledger: Ledger) -> list[LedgerEvent]:
    """The whole event log, oldest first, read page by page."""
    return list(iter_events(ledger))


def events_of_day(ledger: Ledger, day: date) -> list[LedgerEvent]:
    """The events written on ``day`` (New York date), oldest first."""
    return [e for e in all_events(ledger) if ny_date(e.at) == day]


def restarts_by_process(ledger: Ledger) -> Counter[str]:
    """How many times the supervisor restarted each process (RESTART events, every day)."""
    counts: Counter[str] = Counter()
    for event in all_events(ledger):
        if event.kind == "RESTART":
            counts[str(event.data.get("process", "?"))] += 1
    return counts


def health_rows(beats: Sequence[Heartbeat], restarts: Counter[str]) -> list[dict[str, str]]:
    """The last heartbeat of each process with its restart count, keyed by HEALTH_COLUMNS."""
    return [
        {
            "process": b.process,
            "status": b.status,
            "restarts": str(restarts.get(b.process, 0)),
            "code_version": b.code_version,
            "last_beat": b.beat_at.isoformat(timespec="seconds"),
            "detail": _short(b.detail),
        }
        for b in beats
    ]


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _process_names(
    events: Sequence[LedgerEvent], beats: Mapping[str, Heartbeat], day: date
) -> list[str]:
    """The three processes always; the gateway if the supervisor managed one that day; any
    other process that beat that day (a rehearsal)."""
    seen = {subject(e) for e in events if e.kind in LIFECYCLE_KINDS}
    names = list(_ALWAYS)
    if GATEWAY in seen or GATEWAY in beats:
        names.append(GATEWAY)
    return names + sorted(
        n for n, b in beats.items() if ny_date(b.beat_at) == day and n not in names
    )


def _rejected_orders(ledger: Ledger, day: date) -> dict[str, list[OrderRecord]]:
    """The day's REJECTED orders (of the day's positions) by the process that owns them."""
    ids = {p.position_id for p in ledger.positions_of_day(day)}
    found: dict[str, list[OrderRecord]] = {}
    for order in ledger.orders():
        if order.position_id in ids and order.status is OrderStatus.REJECTED:
            found.setdefault(order.owner, []).append(order)
    return found


def _process_health(
    name: str,
    events: Sequence[LedgerEvent],
    beat: Heartbeat | None,
    day: date,
    rejected: Sequence[OrderRecord],
) -> ProcessHealth:
    errors = [e for e in events if e.kind in ERROR_KINDS]
    kinds = Counter(e.kind for e in errors)
    if rejected:
        kinds["REJECTED_ORDER"] = len(rejected)
    beat_today = beat if beat is not None and ny_date(beat.beat_at) == day else None
    return ProcessHealth(
        process=name,
        heartbeat=beat,
        code_versions=_code_versions(events, beat_today),
        starts=sum(1 for e in events if e.kind == "START"),
        restart_reasons=tuple(e.message for e in events if e.kind == "RESTART"),
        errors=tuple(f"{e.kind}: {e.message}" for e in errors)
        + tuple(f"REJECTED order {o.order_ref}: {o.status_reason}" for o in rejected),
        error_kinds=dict(sorted(kinds.items())),
        reconnects=sum(1 for e in events if e.kind == "RECONNECTED"),
        disconnects=sum(1 for e in events if e.kind == "DISCONNECTED"),
    )


def _code_versions(events: Iterable[LedgerEvent], beat: Heartbeat | None) -> tuple[str, ...]:
    """Distinct versions in the order first seen; the heartbeat's (the latest) last."""
    seen: dict[str, None] = {}
    for event in events:
        if event.kind not in LIFECYCLE_KINDS:
            continue
        for key in _VERSION_KEYS:
            if event.data.get(key):
                seen[str(event.data[key])] = None
        for pattern in _VERSION_PATTERNS:
            for match in pattern.finditer(event.message):
                seen.update(dict.fromkeys(match.groups()))
    if beat is not None and beat.code_version:
        seen.pop(beat.code_version, None)
        seen[beat.code_version] = None
    return tuple(seen)


def _session(calendar: Calendar, day: date) -> Session | None:
    try:
        return calendar.session(day)
    except NotATradingDay:
        return None


def _phase(at: datetime, session: Session | None) -> str:
    if session is None:
        return "closed day"
    if at < session.open:
        return "before the open"
    return "session" if at < session.close else "after the close"


def _timeline_row(event: LedgerEvent, session: Session | None) -> dict[str, str]:
    return {
        "time": event.at.astimezone(NEW_YORK).strftime("%H:%M:%S"),
        "phase": _phase(event.at, session),
        "process": subject(event),
        "kind": event.kind,
        "message": event.message,
    }


def _process_row(p: ProcessHealth) -> dict[str, str]:
    beat = p.heartbeat
    link = beat is not None and beat.status in _LINK_STATUSES
    return {
        "process": p.process,
        "status": p.status + (f": {_short(beat.detail, 60)}" if link and beat else ""),
        "last_beat": "-" if beat is None else _ny(beat.beat_at),
        "code_versions": ", ".join(p.code_versions) or "-",
        "starts": str(p.starts),
        "restarts": str(p.restarts),
        "restart_reasons": "; ".join(p.restart_reasons),
        "errors": str(len(p.errors)),
        "error_kinds": ", ".join(f"{k} {n}" for k, n in p.error_kinds.items()),
        "reconnects": str(p.reconnects),
        "disconnects": str(p.disconnects),
    }


def _ny(at: datetime) -> str:
    return at.astimezone(NEW_YORK).isoformat(timespec="seconds")
