"""Liquidations an operator asks for: what they cover, who serves them, and the serving loop.

A liquidation is a ledger request (``Ledger.request_work``). The running exit-manager serves
it (:class:`~openbell.services.exit_desk.ExitDesk`); when none runs, the operator's command
serves it itself with :func:`serve_request`, connected as the exit-manager's IB client, since
IB lets only the client that placed an order cancel it (ARCHITECTURE.md §2).

Only ledger positions and our own orders are touched, never a whole-account action; a
protected symbol is refused by the ledger, and the refusal is reported, not worked around.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from openbell.domain.broker import BrokerEvent
from openbell.domain.errors import Conflict, OpenbellError, ProtectedSymbol, RetryLater
from openbell.domain.positions import Position
from openbell.domain.records import Heartbeat, OperatorRequest
from openbell.ports import Clock, Ledger
from openbell.services.exit_desk import flat_outcome, liquidation_scope

log = logging.getLogger(__name__)

PENDING = "PENDING"
STOPPED_STATUSES = frozenset({"stopped"})
"""Heartbeat statuses a bot writes as it ends: no process serves requests any more."""
HALTED = "halted"
"""The bot is alive (and holds its IB client id) but acts on nothing until a person looks."""


class Presence(StrEnum):
    """Whether the exit-manager will serve a request."""

    SERVING = "SERVING"
    HALTED = "HALTED"
    ABSENT = "ABSENT"


def exit_manager_presence(
    beat: Heartbeat | None,
    now: datetime,
    silent_after: timedelta,
    is_alive: Callable[[int], bool],
) -> Presence:
    """SERVING if the exit-manager's last heartbeat says it runs, HALTED if it runs but
    halted, ABSENT if it wrote none, said it stopped, or went silent and its pid is gone.

    A heartbeat is fresh when written less than ``silent_after`` before ``now`` (the ledger's
    clock). A stale one still counts while its pid is alive: in sim mode the bots write
    heartbeats on the shared accelerated clock, which a command run from another terminal
    does not read.
    """
    if beat is None or beat.status in STOPPED_STATUSES:
        return Presence.ABSENT
    fresh = beat.beat_at >= now - silent_after
    if not fresh and not is_alive(beat.pid):
        return Presence.ABSENT
    return Presence.HALTED if beat.status == HALTED else Presence.SERVING


def exit_manager_state(
    ledger: Ledger,
    now: datetime,
    silent_after: timedelta,
    is_alive: Callable[[int], bool],
    name: str = "exit-manager",
) -> tuple[Heartbeat | None, Presence]:
    """The exit-manager's last heartbeat (process ``name``) and its :class:`Presence`."""
    beat = next((b for b in ledger.heartbeats() if b.process == name), None)
    return beat, exit_manager_presence(beat, now, silent_after, is_alive)


def to_flatten(ledger: Ledger, kind: str, trading_day: date) -> list[Position]:
    """The active positions a ``kind`` request covers that hold shares now (the others are
    entries not filled yet: they belong to the day-trader)."""
    scope = liquidation_scope(kind, trading_day)
    return [p for p in ledger.active_positions() if scope(p) and p.held_quantity > 0]


def await_request(
    ledger: Ledger,
    request_id: int,
    clock: Clock,
    deadline: datetime,
    poll: timedelta = timedelta(seconds=0.5),
) -> OperatorRequest:
    """Wait until the request is finished or ``deadline`` passes (by ``clock``); return it
    as it stands then (still PENDING on a timeout)."""
    while True:
        request = ledger.operator_request(request_id)
        now = clock.now()
        if request.status != PENDING or now >= deadline:
            return request
        clock.sleep_until(min(now + poll, deadline))


class Liquidator(Protocol):
    """What the serving loop needs of the exit manager
    (:class:`~openbell.services.exits.ExitManager`)."""

    def start(self) -> object:
        """Take over the exit orders an earlier life left working."""
        ...

    def apply(self, events: Iterable[BrokerEvent], trading_day: date) -> None: ...

    def flatten(self, only: Callable[[Position], bool] | None = None) -> bool:
        """One step of the flatten of the positions ``only`` accepts; True once flat (the
        positions it must leave alone aside)."""
        ...

    def left_alone(self) -> Mapping[str, str]:
        """Symbols the ledger refused to exit (protected), with the reason."""
        ...


class PumpedBroker(Protocol):
    """The broker as the serving loop drives it: let it read, then drain what it heard."""

    @property
    def ready(self) -> bool:
        """Connected and reconciled: orders may be sent and cancelled."""
        ...

    def pump(self, seconds: float = 0.0) -> None:
        """Let the broker read for ``seconds`` (this is where the loop waits)."""
        ...

    def events(self) -> Sequence[BrokerEvent]: ...


@dataclass(frozen=True)
class Serving:
    """When the loop gives up (by ``clock``) and how long one tick waits (wall seconds)."""

    trading_day: date
    clock: Clock
    deadline: datetime
    tick_s: float = 0.1


def serve_request(
    ledger: Ledger,
    broker: PumpedBroker,
    liquidator: Liquidator,
    request: OperatorRequest,
    serving: Serving,
) -> OperatorRequest:
    """Serve a pending liquidation as the exit-manager would, until flat or the deadline.

    Each tick: let the broker read, book its events, and take one flatten step (only while
    the broker is ready). A protected symbol the ledger refuses to exit is left alone and
    named in the outcome. The request ends DONE when everything else in scope is flat,
    else FAILED with the reason; if another process finished it meanwhile, that is returned.
    """
    scope = liquidation_scope(request.kind, serving.trading_day)
    refused: dict[str, str] = {}

    def wanted(position: Position) -> bool:
        return scope(position) and str(position.symbol) not in refused

    try:
        liquidator.start()
        while True:
            current = ledger.operator_request(request.request_id)
            if current.status != PENDING:
                return current  # served elsewhere (an exit-manager that started meanwhile)
            if _tick(broker, liquidator, wanted, serving, refused):
                return _finish(ledger, request, not refused, flat_outcome(refused))
            if serving.clock.now() >= serving.deadline:
                why = _timeout_outcome(ledger, wanted, refused)
                return _finish(ledger, request, False, why)
    except OpenbellError as exc:
        with contextlib.suppress(OpenbellError):  # the error that stopped us is the news
            _finish(ledger, request, False, f"stopped: {exc}")
        raise


def _tick(
    broker: PumpedBroker,
    liquidator: Liquidator,
    wanted: Callable[[Position], bool],
    serving: Serving,
    refused: dict[str, str],
) -> bool:
    """One step of the loop; True once every wanted position is flat."""
    try:
        broker.pump(serving.tick_s)
        liquidator.apply(broker.events(), serving.trading_day)
        flat = broker.ready and liquidator.flatten(wanted)
        refused.update(liquidator.left_alone())
        return flat
    except ProtectedSymbol as exc:
        log.warning("leaving %s alone: %s", exc.symbol, exc)
        refused[exc.symbol] = str(exc)
    except RetryLater as exc:  # IB dropped, the ledger busy: the next tick tries again
        log.warning("liquidation step postponed: %s", exc)
    return False


def _finish(ledger: Ledger, request: OperatorRequest, ok: bool, outcome: str) -> OperatorRequest:
    try:
        return ledger.finish_request(request.request_id, ok, outcome)
    except Conflict:  # finished by another process first: theirs stands
        return ledger.operator_request(request.request_id)


def _timeout_outcome(
    ledger: Ledger, wanted: Callable[[Position], bool], refused: dict[str, str]
) -> str:
    held = [p for p in ledger.active_positions() if wanted(p) and p.held_quantity > 0]
    shown = ", ".join(f"{p.symbol} {p.held_quantity} ({p.state})" for p in held)
    outcome = f"timed out; still held: {shown or 'nothing'}"
    working = [o for o in ledger.orders(live_only=True) if o.role.is_exit]
    if working:
        outcome += (
            f"; {len(working)} exit orders still working at the broker: "
            "the exit-manager takes them over when it starts"
        )
    if refused:
        outcome += "; left alone: " + "; ".join(refused.values())
    return outcome
