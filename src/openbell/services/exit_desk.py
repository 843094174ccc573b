"""The exit-manager's day: follow the ledger's open positions, serve liquidations, flatten.

The day-trader books entry fills; the exit-manager sees them as positions turning OPEN in
the ledger (IB reports an order's fills only to the client id that placed it). For each it
keeps a target and a stop working (``native``), or records the levels for the tape watch
(``monitored``). From the flatten time it cancels its own exits and sells what is left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

from openbell.domain.broker import BrokerEvent
from openbell.domain.enums import PositionState
from openbell.domain.errors import Conflict
from openbell.domain.positions import Position
from openbell.domain.records import OperatorRequest
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import OrderRef
from openbell.ports import Ledger
from openbell.services.exits import ExitManager
from openbell.services.watch import TapeWatch
from openbell.strategy.schedule import DayPlan

LIQUIDATE_MANAGED = "LIQUIDATE_MANAGED"
LIQUIDATE_TODAY = "LIQUIDATE_TODAY"


def liquidation_scope(kind: str, trading_day: date) -> Callable[[Position], bool]:
    """Which positions a liquidation request covers: every one, or those opened today."""
    if kind == LIQUIDATE_TODAY:
        return lambda p: p.trading_day == trading_day
    return lambda p: True


def flat_outcome(left_alone: Mapping[str, str]) -> str:
    """A served liquidation's outcome: flat, but for the positions the ledger refused to exit
    (protected), named with the reason. Entries not filled yet are the day-trader's: a
    liquidation covers what is held (OPEN or EXITING)."""
    if not left_alone:
        return "flat"
    return "flat; left alone: " + "; ".join(left_alone.values())


class ExitDesk:
    """The exit-manager's decisions, one :meth:`step` at a time."""

    def __init__(
        self,
        ledger: Ledger,
        manager: ExitManager,
        plan: DayPlan,
        watch: TapeWatch | None = None,
    ) -> None:
        self._ledger, self._manager, self._plan, self._watch = ledger, manager, plan, watch

    def start(self) -> list[OrderRef]:
        return self._manager.start()

    def apply(self, events: Sequence[BrokerEvent], trading_day: date) -> None:
        self._manager.apply(events, trading_day)

    def step(self, now: datetime, session: Session) -> str:
        """Serve liquidation requests, then flatten or protect; return what it is doing."""
        serving = self._serve_requests(session.trading_day)
        timeline = self._plan.resolve(session)
        if now >= timeline.flatten:
            if self._manager.flatten():
                return "flat: the flatten time has passed"
            return "flattening"
        active = self._ledger.active_positions()
        for position in active:
            self._manager.protect(position)
        if self._watch is not None:
            self._watch.follow(self._ledger.active_positions())
        held = sum(1 for p in active if p.state is PositionState.OPEN)
        mode = "watching" if self._watch is not None else "protecting"
        return f"{serving}{mode} {held} open positions"

    def _serve_requests(self, trading_day: date) -> str:
        pending: Sequence[OperatorRequest] = self._ledger.pending_requests()
        for request in pending:
            if _made_before(request, trading_day):
                made = request.requested_at.astimezone(NEW_YORK).date()
                why = (
                    "today's positions are not its"
                    if request.kind == LIQUIDATE_TODAY
                    else "a liquidation is acted on the day it is asked, never later; ask again"
                )
                self._finish(request, False, f"not served on {made}: {why}")
                continue
            scope = liquidation_scope(request.kind, trading_day)
            if self._manager.flatten(scope):
                left = self._manager.left_alone()
                self._finish(request, not left, flat_outcome(left))
        return "liquidating; " if pending else ""

    def _finish(self, request: OperatorRequest, ok: bool, outcome: str) -> None:
        with contextlib.suppress(Conflict):  # finished by another process meanwhile
            self._ledger.finish_request(request.request_id, ok, outcome)


def _made_before(request: OperatorRequest, trading_day: date) -> bool:
    """True if the request was made on an earlier New York day than ``trading_day``."""
    return request.requested_at.astimezone(NEW_YORK).date() < trading_day
