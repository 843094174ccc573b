"""Notifications: which ledger events a person hears about, and in what words.

Everything here is pure except :func:`facts_for`, which reads what a message needs from the
ledger. How often is ``openbell.services.notify_limit``; the process that tails the event
log and sends is ``openbell.runtime.notifier``; the channels (Telegram, Discord, Slack,
email, webhooks) are behind :class:`Sender`.

Which events become which notices (anything else is not sent):

==========================================  =================  ========
event kind                                  notice kind        severity
==========================================  =================  ========
ENTRY_FILL                                  entry              info
TARGET_FILL                                 target             success
STOP_FILL                                   stop               warning
FLATTEN_FILL (end of day, kill, request)    flatten            info
STEP ``smart_shutdown``                     smart_shutdown     success
HALTED, SCAN_FAILED, UNPROTECTED,
REQUEST_FAILED, NOT_FLAT                    error              failure
DISCONNECTED / RECONNECTED                  connection         warning / success
RESTART                                     restart            warning
APPROVAL_REQUESTED (still pending)          approval           warning
==========================================  =================  ========
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from openbell.domain.enums import ExitReason, PositionState
from openbell.domain.errors import InvalidValue
from openbell.domain.positions import Position
from openbell.domain.records import Approval, FillRecord, LedgerEvent
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Symbol
from openbell.ports import Ledger
from openbell.services.rescans import describe


class NoticeKind(StrEnum):
    """What a notice is about; ``notifications.kinds`` chooses which are sent."""

    ENTRY = "entry"
    TARGET = "target"
    STOP = "stop"
    FLATTEN = "flatten"
    SMART_SHUTDOWN = "smart_shutdown"
    ERROR = "error"
    CONNECTION = "connection"
    RESTART = "restart"
    APPROVAL = "approval"
    SUPPRESSED = "suppressed"
    """The rate limiter's summary of what it held back; always sent."""


class Severity(StrEnum):
    """How loud a notice is; the values are apprise's notification types."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"

    @property
    def loudness(self) -> int:
        return _LOUDNESS[self]


_LOUDNESS = {Severity.INFO: 0, Severity.SUCCESS: 1, Severity.WARNING: 2, Severity.FAILURE: 3}


DEFAULT_KINDS = frozenset(NoticeKind) - {NoticeKind.SUPPRESSED}


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for people: a one-line ``title`` saying what happened, a ``body`` saying
    why and what it left behind."""

    kind: NoticeKind
    title: str
    body: str
    symbol: Symbol | None = None
    severity: Severity = Severity.INFO


class Sender(Protocol):
    """The notification channels (apprise, or a fake in tests)."""

    def send(self, title: str, body: str, severity: str) -> bool:
        """Deliver one notice to every channel within the configured timeout.

        ``severity`` is a :class:`Severity` value. Return True if every channel accepted
        it; a channel that fails, refuses or hangs makes it False. Never raise for that.
        """
        ...


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """The ``notifications`` settings, as plain values. No ``urls``: notifications are off.

    ``urls`` are apprise URLs; they carry tokens, so they are left out of ``repr``.
    """

    urls: tuple[str, ...] = field(default=(), repr=False)
    kinds: frozenset[NoticeKind] = DEFAULT_KINDS
    max_per_minute: int = 20
    """Notices sent in any 60 s, at most (summaries included)."""
    cooldown_s: float = 30.0
    """Wall seconds between two notices of the same kind and symbol (errors excepted)."""
    timeout_s: float = 10.0
    """Wall seconds one send may take, for all channels together."""
    poll_s: float = 1.0
    """Wall seconds between two reads of the event log."""

    def __post_init__(self) -> None:
        if self.max_per_minute < 1:
            raise InvalidValue("notifications.max_per_minute", "1 or more", self.max_per_minute)
        if self.cooldown_s < 0:
            raise InvalidValue("notifications.cooldown_s", "0 or more seconds", self.cooldown_s)
        for name in ("timeout_s", "poll_s"):
            if getattr(self, name) <= 0:
                raise InvalidValue(f"notifications.{name}", "above 0 s", getattr(self, name))

    @property
    def enabled(self) -> bool:
        return bool(self.urls)


# --- facts the messages need -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the ledger says now about an event's position, fill or approval."""

    position: Position | None = None
    fill: FillRecord | None = None
    last_fill: bool = False
    """The fill is the position's latest one (so its P&L is the position's final P&L)."""
    approval: Approval | None = None


_FILL_KINDS = ("ENTRY_FILL", "TARGET_FILL", "STOP_FILL", "FLATTEN_FILL")


def facts_for(ledger: Ledger, event: LedgerEvent) -> EventFacts:
    """Read the position and fill of a fill event, or the request of an approval event.

    A record the ledger cannot find (NotFound) propagates; the caller sends the notice
    without the facts.
    """
    if event.kind in _FILL_KINDS and event.position_id is not None:
        fills = ledger.fills(event.position_id)
        execution_id = event.data.get("execution_id")
        fill = next((f for f in fills if f.execution_id == execution_id), None)
        last = fill is not None and fill is fills[-1]
        return EventFacts(ledger.position(event.position_id), fill, last)
    if event.kind == "APPROVAL_REQUESTED" and "approval_id" in event.data:
        return EventFacts(approval=ledger.approval(int(event.data["approval_id"])))
    return EventFacts()


def needs_facts(event: LedgerEvent) -> bool:
    return event.kind in _FILL_KINDS or event.kind == "APPROVAL_REQUESTED"


# --- events to notices -------------------------------------------------------------------


def notice_for(event: LedgerEvent, facts: EventFacts | None = None) -> Notice | None:
    """The notice ``event`` is worth, or None for an event people need not hear about.

    ``facts`` (from :func:`facts_for`) make fill and approval notices precise; without them
    the notice repeats the event's message.
    """
    build = _BUILDERS.get(event.kind)
    return None if build is None else build(event, facts or EventFacts())


def _at(event: LedgerEvent) -> str:
    return f"{event.at.astimezone(NEW_YORK):%H:%M:%S} ET"


def _entry_fill(event: LedgerEvent, facts: EventFacts) -> Notice:
    fill, position = facts.fill, facts.position
    if fill is None or position is None:
        return Notice(NoticeKind.ENTRY, f"FILL: {event.symbol}", event.message, event.symbol)
    title = f"FILL: bought {fill.quantity} {fill.symbol} @ {fill.price}"
    if position.target_price is not None and position.stop_price is not None:
        exits = f"target {position.target_price}, stop {position.stop_price}"
    else:
        exits = "the target and stop follow from the fill"
    body = (
        f"{str(position.role).lower()} position {position.position_id} entered at {_at(event)}: "
        f"avg entry {position.entry_price}; {exits}"
    )
    return Notice(NoticeKind.ENTRY, title, body, fill.symbol)


_EXITS = {
    "TARGET_FILL": (NoticeKind.TARGET, "TARGET", Severity.SUCCESS),
    "STOP_FILL": (NoticeKind.STOP, "STOP", Severity.WARNING),
    "FLATTEN_FILL": (NoticeKind.FLATTEN, "FLATTEN", Severity.INFO),
}


def _exit_why(position: Position) -> str:
    reason = position.exit_reason
    if reason is ExitReason.TARGET:
        return f"the profit target {position.target_price} was reached"
    if reason is ExitReason.STOP:
        return f"the stop {position.stop_price} was hit"
    if reason is ExitReason.KILL:
        return "the kill switch liquidated it"
    if reason is ExitReason.MANUAL:
        return "a person asked to liquidate it"
    return "the end-of-day flatten sold it before the close"


def _exit_fill(event: LedgerEvent, facts: EventFacts) -> Notice:
    kind, label, severity = _EXITS[event.kind]
    fill, position = facts.fill, facts.position
    if fill is None or position is None:
        return Notice(kind, f"{label}: {event.symbol}", event.message, event.symbol, severity)
    title = f"{label}: sold {fill.quantity} {fill.symbol} @ {fill.price}"
    closed = position.state is PositionState.CLOSED and facts.last_fill
    pnl = position.realized_pnl.rounded()
    if closed:
        title += f", P&L {pnl}"
        left = f"position {position.position_id} closed; entry avg {position.entry_price}; P&L"
    else:
        left = (
            f"position {position.position_id} still holds {position.held_quantity}; "
            f"entry avg {position.entry_price}; P&L so far"
        )
    body = (
        f"{_exit_why(position)} at {_at(event)}; {left} {pnl} net of "
        f"${position.commissions:.2f} commissions"
    )
    return Notice(kind, title, body, fill.symbol, severity)


def _step(event: LedgerEvent, _facts: EventFacts) -> Notice | None:
    if event.data.get("step") != "smart_shutdown":
        return None
    day = event.data.get("trading_day", "today")
    why = event.message.removeprefix("smart_shutdown done").removeprefix(": ")
    return Notice(
        NoticeKind.SMART_SHUTDOWN,
        f"SMART SHUTDOWN: done for {day}",
        f"{why or 'every master position closed'}: no new entries today; the bots go to "
        f"sleep ({_at(event)})",
        severity=Severity.SUCCESS,
    )


_ERROR_TITLES: dict[str, Callable[[LedgerEvent], str]] = {
    "HALTED": lambda e: f"ERROR: {e.process} halted",
    "SCAN_FAILED": lambda e: "ERROR: scan failed",
    "UNPROTECTED": lambda e: f"ERROR: {e.symbol} left alone, unprotected",
    "REQUEST_FAILED": lambda e: "ERROR: a requested liquidation failed",
    "NOT_FLAT": lambda e: f"ALERT: not flat at the {e.data.get('stage', 'flatten')}",
}


def _error(event: LedgerEvent, _facts: EventFacts) -> Notice:
    title = _ERROR_TITLES[event.kind](event)
    body = f"{event.message} ({event.process}, {_at(event)})"
    return Notice(NoticeKind.ERROR, title, body, event.symbol, Severity.FAILURE)


def _link(event: LedgerEvent, _facts: EventFacts) -> Notice:
    lost = event.kind == "DISCONNECTED"
    title = f"{event.process} {'lost' if lost else 'regained'} the IB connection"
    severity = Severity.WARNING if lost else Severity.SUCCESS
    body = f"{event.message} ({_at(event)})"
    return Notice(NoticeKind.CONNECTION, title, body, severity=severity)


def _restart(event: LedgerEvent, _facts: EventFacts) -> Notice:
    process = event.data.get("process", "a process")
    restarts = event.data.get("restarts")
    count = f"; restart {restarts} since the supervisor started" if restarts else ""
    body = f"{event.message}{count} ({_at(event)})"
    return Notice(NoticeKind.RESTART, f"RESTART: {process}", body, severity=Severity.WARNING)


def _approval(event: LedgerEvent, facts: EventFacts) -> Notice | None:
    approval = facts.approval
    if approval is None:
        return Notice(NoticeKind.APPROVAL, "APPROVAL NEEDED", event.message, event.symbol)
    if approval.status != "PENDING":
        return None  # decided or expired before this notice went out: nothing to act on
    number = approval.approval_id
    body = (
        f"{describe(approval)}. Approve with 'openbell approvals approve {number}' or reject "
        f"with 'openbell approvals reject {number}'; it expires if nobody decides in time."
    )
    title = f"APPROVAL NEEDED #{number}: {approval.symbol}"
    return Notice(NoticeKind.APPROVAL, title, body, approval.symbol, Severity.WARNING)


_Builder = Callable[[LedgerEvent, EventFacts], Notice | None]
_BUILDERS: dict[str, _Builder] = {
    "ENTRY_FILL": _entry_fill,
    **dict.fromkeys(_EXITS, _exit_fill),
    "STEP": _step,
    **dict.fromkeys(_ERROR_TITLES, _error),
    "DISCONNECTED": _link,
    "RECONNECTED": _link,
    "RESTART": _restart,
    "APPROVAL_REQUESTED": _approval,
}

NOTIFIED_EVENT_KINDS = frozenset(_BUILDERS)
"""The event kinds that can become a notice."""
